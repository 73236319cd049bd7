"""The model repository: uploaded packages are checked, stored as rows plus BLOB chunks, and served."""

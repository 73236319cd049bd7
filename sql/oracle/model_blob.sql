-- omlsvc: reassemble a stored model's zip from its BLOB chunks, for in-database use
-- (for example to hand the ONNX package to DBMS_VECTOR or DBMS_DATA_MINING.IMPORT_ONNX_MODEL).
--   SELECT omlsvc_model_blob('6f1c...') FROM dual;
CREATE OR REPLACE FUNCTION omlsvc_model_blob(p_model_id IN VARCHAR2) RETURN BLOB IS
  v_blob BLOB;
BEGIN
  DBMS_LOB.CREATETEMPORARY(v_blob, TRUE, DBMS_LOB.CALL);
  FOR c IN (SELECT data FROM model_chunks WHERE model_id = p_model_id ORDER BY seq) LOOP
    DBMS_LOB.APPEND(v_blob, c.data);
  END LOOP;
  RETURN v_blob;
END omlsvc_model_blob;
/

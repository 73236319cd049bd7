-- omlsvc: reassemble a stored model's zip from its chunks, for in-database use.
--   SELECT omlsvc_model_blob('6f1c...');
CREATE OR REPLACE FUNCTION omlsvc_model_blob(p_model_id VARCHAR) RETURNS BYTEA
LANGUAGE SQL STABLE AS $$
  SELECT COALESCE(string_agg(data, ''::bytea ORDER BY seq), ''::bytea)
  FROM model_chunks WHERE model_id = p_model_id
$$;

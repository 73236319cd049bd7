-- omlsvc: let PostgreSQL's own scheduler (pg_cron) start batch scoring runs.
--
-- omlsvc_enqueue_run(job_id) adds a PENDING run of a job as the RUN action does: not while the job has a
-- run pending or in progress, nor once its maxRuns or jobEndDate is reached; any omlsvc runner (`omlsvc jobs
-- worker`, or the one inside `omlsvc serve`) then scores it. It returns the new run's id, or NULL when it
-- added none. Runs it adds are EXTERNAL runs: like ad-hoc runs they do not count towards runCount.
-- Create jobs meant for the database's scheduler with "disableJob": true, so omlsvc's scheduler leaves them
-- alone (a disabled job still runs when asked, as with RUN).
-- Needs PostgreSQL 13 or later (gen_random_uuid) and the omlsvc schema (sql/postgresql/schema.sql).
--
--   SELECT omlsvc_enqueue_run('OML$21FACAC2_B345_4485_B287_DBDADC3A1BC0');
--
--   -- every night at 02:00, with pg_cron (CREATE EXTENSION pg_cron; in the cron database):
--   SELECT cron.schedule('churn-nightly', '0 2 * * *',
--                        $$SELECT omlsvc_enqueue_run('OML$21FACAC2_B345_4485_B287_DBDADC3A1BC0')$$);
CREATE OR REPLACE FUNCTION omlsvc_enqueue_run(p_job_id VARCHAR) RETURNS VARCHAR
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_max_runs INTEGER;
  v_scheduled_runs INTEGER;
  v_end_at TIMESTAMP;
  v_now TIMESTAMP := now() AT TIME ZONE 'UTC';
  v_run_id VARCHAR(36);
BEGIN
  -- Lock the job row, as the service does before adding a run: two callers never both add one.
  SELECT max_runs, scheduled_runs, end_at INTO v_max_runs, v_scheduled_runs, v_end_at
    FROM jobs WHERE id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING MESSAGE = 'omlsvc job ' || p_job_id || ' does not exist', ERRCODE = 'no_data_found';
  END IF;
  IF v_scheduled_runs >= v_max_runs OR v_end_at < v_now THEN  -- NULL (no limit) compares as not true
    RETURN NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM job_runs WHERE job_id = p_job_id AND status IN ('PENDING', 'RUNNING')) THEN
    RETURN NULL;
  END IF;
  v_run_id := gen_random_uuid()::VARCHAR;
  INSERT INTO job_runs (id, job_id, run_type, status, requested_at, stop_requested, exhausted, rows_done,
                        chunk_seq)
  VALUES (v_run_id, p_job_id, 'EXTERNAL', 'PENDING', v_now, false, false, 0, 0);
  RETURN v_run_id;
END
$$;

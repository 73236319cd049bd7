-- omlsvc: let Oracle's own scheduler (DBMS_SCHEDULER) start batch scoring runs.
--
-- omlsvc_enqueue_run(job_id) adds a PENDING run of a job as the RUN action does: not while the job has a
-- run pending or in progress, nor once its maxRuns or jobEndDate is reached; any omlsvc runner (`omlsvc jobs
-- worker`, or the one inside `omlsvc serve`) then scores it. Runs it adds are EXTERNAL runs: like ad-hoc runs
-- they do not count towards runCount. Create jobs meant for the database's scheduler with
-- "disableJob": true, so omlsvc's scheduler leaves them alone (a disabled job still runs when asked).
-- omlsvc_schedule_job(job_id, repeat_interval) creates (or replaces) a DBMS_SCHEDULER job that calls it,
-- in the calendaring syntax jobs already use:
--
--   EXEC omlsvc_enqueue_run('OML$21FACAC2_B345_4485_B287_DBDADC3A1BC0');
--   EXEC omlsvc_schedule_job('OML$21FACAC2_B345_4485_B287_DBDADC3A1BC0', 'FREQ=DAILY;BYHOUR=2');
--
-- The schema owner needs the CREATE JOB privilege for omlsvc_schedule_job.
CREATE OR REPLACE PROCEDURE omlsvc_enqueue_run(p_job_id IN VARCHAR2) IS
  v_job    jobs%ROWTYPE;
  v_now    TIMESTAMP := SYS_EXTRACT_UTC(SYSTIMESTAMP);
  v_active NUMBER;
BEGIN
  -- Lock the job row, as the service does before adding a run: two callers never both add one.
  SELECT * INTO v_job FROM jobs WHERE id = p_job_id FOR UPDATE;
  IF (v_job.max_runs IS NULL OR v_job.scheduled_runs < v_job.max_runs)
     AND (v_job.end_at IS NULL OR v_job.end_at >= v_now) THEN
    SELECT COUNT(*) INTO v_active FROM job_runs
      WHERE job_id = p_job_id AND status IN ('PENDING', 'RUNNING');
    IF v_active = 0 THEN
      INSERT INTO job_runs (id, job_id, run_type, status, requested_at, stop_requested, exhausted, rows_done,
                            chunk_seq)
      VALUES (LOWER(REGEXP_REPLACE(RAWTOHEX(SYS_GUID()), '^(.{8})(.{4})(.{4})(.{4})(.{12})$',
                                   '\1-\2-\3-\4-\5')),
              p_job_id, 'EXTERNAL', 'PENDING', v_now, 0, 0, 0, 0);
    END IF;
  END IF;
  COMMIT;
EXCEPTION
  WHEN NO_DATA_FOUND THEN
    RAISE_APPLICATION_ERROR(-20001, 'omlsvc job ' || p_job_id || ' does not exist');
END omlsvc_enqueue_run;
/

CREATE OR REPLACE PROCEDURE omlsvc_schedule_job(p_job_id IN VARCHAR2, p_repeat_interval IN VARCHAR2) IS
  -- Scheduler job names are at most 128 bytes: OMLSVC_ + the 36 characters of the job id after OML$.
  v_name VARCHAR2(128) := 'OMLSVC_' || SUBSTR(p_job_id, 5);
BEGIN
  BEGIN
    DBMS_SCHEDULER.DROP_JOB(job_name => v_name, force => TRUE);
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE != -27475 THEN  -- "unknown job": nothing to replace
        RAISE;
      END IF;
  END;
  DBMS_SCHEDULER.CREATE_JOB(
    job_name            => v_name,
    job_type            => 'STORED_PROCEDURE',
    job_action          => 'OMLSVC_ENQUEUE_RUN',
    number_of_arguments => 1,
    start_date          => SYSTIMESTAMP,
    repeat_interval     => p_repeat_interval,
    enabled             => FALSE,
    comments            => 'omlsvc batch scoring job ' || p_job_id);
  DBMS_SCHEDULER.SET_JOB_ARGUMENT_VALUE(job_name => v_name, argument_position => 1, argument_value => p_job_id);
  DBMS_SCHEDULER.ENABLE(v_name);
END omlsvc_schedule_job;
/

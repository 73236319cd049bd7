-- omlsvc on Oracle: what an administrator runs so that batch scoring jobs act as their owners'
-- own schemas, as Oracle Machine Learning Services does (README, "Jobs and database access").
--
-- A job connects through a proxy session omlsvc[ALICE]: the session is ALICE's, with ALICE's
-- privileges only, so Oracle decides what the job reads (ALICE's tables, and what others granted
-- ALICE) and its output tables are created in, and owned by, ALICE's schema. omlsvc's own account
-- needs no privilege on users' tables.
--
-- Replace OMLSVC (the service's account) and ALICE, BOB (users' schemas, as `omlsvc users add NAME
-- --db-role USER` names them; by default the omlsvc user name in upper case).
--
-- Status: this version of omlsvc does not open proxy sessions yet, and refuses to create or run jobs
-- on Oracle rather than read users' tables with its own account's privileges. These grants are what
-- the proxy sessions need; they were checked against Oracle's syntax, not run against a server.

-- 1. Each user's schema may be entered through omlsvc's account, without ALICE's password.
ALTER USER alice GRANT CONNECT THROUGH omlsvc;
ALTER USER bob GRANT CONNECT THROUGH omlsvc;

-- 2. What a job needs in its own schema: to create its output tables there.
GRANT CREATE SESSION, CREATE TABLE TO alice;
ALTER USER alice QUOTA UNLIMITED ON users;
GRANT CREATE SESSION, CREATE TABLE TO bob;
ALTER USER bob QUOTA UNLIMITED ON users;

-- 3. Sharing data with a user's jobs is ordinary Oracle: the owner grants it, and revokes it the same way.
GRANT SELECT ON alice.iris_in TO bob;
-- REVOKE SELECT ON alice.iris_in FROM bob;

-- 4. Never grant users anything on omlsvc's own tables; to end a user's proxy access:
-- ALTER USER alice REVOKE CONNECT THROUGH omlsvc;

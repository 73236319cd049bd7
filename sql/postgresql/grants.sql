-- omlsvc on PostgreSQL: what an administrator runs so that batch scoring jobs read and write as their
-- owners' own roles (README, "Jobs and database access").
--
-- A job runs every statement on user tables after SET LOCAL ROLE <the user's role>, so PostgreSQL's
-- own privileges decide which tables, views and schemas it reads and where it creates its output
-- tables (which that role then owns). omlsvc's login only needs to be a member of each user's role;
-- it needs no privilege on the users' tables at all.
--
-- Replace omlsvc (the service's login), alice and bob (users' roles, as `omlsvc users add NAME
-- --db-role ROLE` names them; by default the omlsvc user name in lower case) and the schema names.

-- 1. omlsvc's own schema: only omlsvc's login creates or changes anything in it. No user role may
--    create objects there (a function created in a schema on omlsvc's search path could capture its
--    calls), so never GRANT CREATE on it, and keep pg_catalog first on the search path (the default).
CREATE SCHEMA IF NOT EXISTS omlsvc AUTHORIZATION omlsvc;
ALTER ROLE omlsvc SET search_path = "$user";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;  -- the default since PostgreSQL 15

-- 2. One role per omlsvc user (NOLOGIN if people do not log in with it themselves), with its own schema:
--    a job's tables are found on the role's search path ("$user", public by default, so its own schema
--    first) and its output tables are created in its own schema unless the job names another
--    (outputSchemaName) where the role may CREATE.
CREATE ROLE alice NOLOGIN;
CREATE SCHEMA alice AUTHORIZATION alice;
CREATE ROLE bob NOLOGIN;
CREATE SCHEMA bob AUTHORIZATION bob;

-- 3. omlsvc's login may act as each of them (SET ROLE), and nothing more.
GRANT alice TO omlsvc;
GRANT bob TO omlsvc;

-- 4. From then on, sharing data with a user's jobs is ordinary PostgreSQL: the owner (or an
--    administrator) grants it to the role, and revokes it the same way.
GRANT USAGE ON SCHEMA alice TO bob;
GRANT SELECT ON alice.iris_in TO bob;        -- bob's jobs may now score alice.iris_in
-- REVOKE SELECT ON alice.iris_in FROM bob;  -- and now no longer (a run in progress fails as "no such table")

-- What a job will not read even when granted: a foreign table, or a view (or a table with row
-- security policies) whose definition calls anything but immutable or stable built-in functions,
-- since such a function would run inside omlsvc's session and could leave the role (RESET ROLE).

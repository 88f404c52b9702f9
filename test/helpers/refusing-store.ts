/**
 * Makes a real store's database refuse one marked value, as a database refuses what a validator
 * missed (a NUL PostgreSQL will not take, a number out of a column's range): the tests of refused
 * writes need a value that passes validation and that only the database turns down. Nothing of
 * the store is replaced; the database itself refuses, with its own error (SQLite: a trigger's
 * SQLITE_CONSTRAINT_TRIGGER; PostgreSQL: a check constraint's 23514).
 */

/** An event of this type, or a session whose `type` or `task` is this, is refused by the database. */
export const POISON = "poison";

/** The SQL that makes the database of a store of this backend refuse POISON. */
export function refusePoisonSql(backend: "sqlite" | "postgres"): string {
  if (backend === "postgres") {
    return `
      ALTER TABLE events ADD CONSTRAINT refuse_poison CHECK (type <> '${POISON}');
      ALTER TABLE sessions ADD CONSTRAINT refuse_poison CHECK (coalesce(type, '') <> '${POISON}' AND coalesce(task, '') <> '${POISON}');`;
  }
  return `
    CREATE TRIGGER refuse_poison_event BEFORE INSERT ON events WHEN NEW.type = '${POISON}'
      BEGIN SELECT RAISE(ABORT, 'the database refuses ${POISON}'); END;
    CREATE TRIGGER refuse_poison_insert BEFORE INSERT ON sessions WHEN NEW.type = '${POISON}' OR NEW.task = '${POISON}'
      BEGIN SELECT RAISE(ABORT, 'the database refuses ${POISON}'); END;
    CREATE TRIGGER refuse_poison_update BEFORE UPDATE ON sessions WHEN NEW.type = '${POISON}' OR NEW.task = '${POISON}'
      BEGIN SELECT RAISE(ABORT, 'the database refuses ${POISON}'); END;`;
}

export { openPostgresStore, type PostgresStoreOptions } from "./postgres-store.js";
export { migratePostgres, shippedPostgresMigrations } from "./migrate.js";

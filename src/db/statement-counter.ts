/**
 * Counts the statements the server sends to the database (round trips: queries, and BEGIN,
 * COMMIT, ROLLBACK and savepoints of transactions), for `agentapi_db_statements_total` and the
 * test that keeps statements per enrolled agent from creeping back. A dialect wrapper, so both
 * databases count the same way; the cost is one increment per statement.
 */
import type {
  CompiledQuery,
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from "kysely";

type Abortable = Parameters<Driver["acquireConnection"]>[0];

/** The running total; read at scrape time. */
export class StatementCounter {
  count = 0;
}

class CountingConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly counter: StatementCounter,
  ) {}

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    this.counter.count++;
    return this.inner.executeQuery<R>(compiled);
  }

  streamQuery<R>(
    compiled: CompiledQuery,
    chunkSize: number,
    options?: Abortable,
  ): AsyncIterableIterator<QueryResult<R>> {
    this.counter.count++;
    return this.inner.streamQuery<R>(compiled, chunkSize, options);
  }
}

function unwrap(connection: DatabaseConnection): DatabaseConnection {
  return connection instanceof CountingConnection ? connection.inner : connection;
}

class CountingDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly counter: StatementCounter,
  ) {}

  init(options?: Abortable): Promise<void> {
    return this.inner.init(options);
  }

  async acquireConnection(options?: Abortable): Promise<DatabaseConnection> {
    return new CountingConnection(await this.inner.acquireConnection(options), this.counter);
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    this.counter.count++;
    return this.inner.beginTransaction(unwrap(connection), settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    this.counter.count++;
    return this.inner.commitTransaction(unwrap(connection));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    this.counter.count++;
    return this.inner.rollbackTransaction(unwrap(connection));
  }

  async savepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler["compileQuery"],
  ): Promise<void> {
    const inner = this.inner.savepoint?.bind(this.inner);
    if (!inner) throw new Error("the database driver does not support savepoints");
    this.counter.count++;
    await inner(unwrap(connection), name, compileQuery);
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler["compileQuery"],
  ): Promise<void> {
    const inner = this.inner.rollbackToSavepoint?.bind(this.inner);
    if (!inner) throw new Error("the database driver does not support savepoints");
    this.counter.count++;
    await inner(unwrap(connection), name, compileQuery);
  }

  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler["compileQuery"],
  ): Promise<void> {
    const inner = this.inner.releaseSavepoint?.bind(this.inner);
    if (!inner) throw new Error("the database driver does not support savepoints");
    this.counter.count++;
    await inner(unwrap(connection), name, compileQuery);
  }

  releaseConnection(connection: DatabaseConnection, options?: Abortable): Promise<void> {
    return this.inner.releaseConnection(unwrap(connection), options);
  }

  destroy(options?: Abortable): Promise<void> {
    return this.inner.destroy(options);
  }
}

/** `dialect`, with every statement its connections run counted in `counter`. */
export function countingDialect(dialect: Dialect, counter: StatementCounter): Dialect {
  return {
    createAdapter: (): DialectAdapter => dialect.createAdapter(),
    createDriver: (): Driver => new CountingDriver(dialect.createDriver(), counter),
    createQueryCompiler: (): QueryCompiler => dialect.createQueryCompiler(),
    // biome-ignore lint/suspicious/noExplicitAny: Kysely's own signature takes Kysely<any>
    createIntrospector: (db: Kysely<any>): DatabaseIntrospector => dialect.createIntrospector(db),
  };
}

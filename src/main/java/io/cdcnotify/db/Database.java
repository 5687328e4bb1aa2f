package io.cdcnotify.db;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Properties;

import javax.sql.DataSource;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.cdcnotify.config.DbConfig;
import io.helidon.dbclient.DbClient;
import io.helidon.dbclient.DbClientException;
import io.helidon.dbclient.jdbc.JdbcClientBuilder;
import org.flywaydb.core.Flyway;

/**
 * The database as the rest of the service sees it: a HikariCP pool, Helidon's {@link DbClient} over it for
 * repository code, the versioned migrations of schema {@code cdc}, and dedicated connections outside the
 * pool for the LISTEN loop.
 */
public final class Database implements AutoCloseable {

    /** {@code application_name} of the LISTEN connection, as the contract names it. */
    public static final String LISTENER_APPLICATION_NAME = "cdc-notify-listener";

    private final DbConfig config;
    private final HikariDataSource pool;
    private final DbClient client;

    private Database(DbConfig config, HikariDataSource pool) {
        this.config = config;
        this.pool = pool;
        this.client = JdbcClientBuilder.create()
                .connectionPool(() -> {
                    try {
                        return pool.getConnection();
                    } catch (SQLException e) {
                        throw new DbClientException("No connection from the pool", e);
                    }
                })
                .build();
    }

    /** Opens the pool and brings schema {@code cdc} to the newest version. */
    public static Database open(DbConfig config) {
        HikariConfig hikari = new HikariConfig();
        hikari.setJdbcUrl(config.url());
        hikari.setUsername(config.user());
        hikari.setPassword(config.password());
        hikari.setMaximumPoolSize(config.poolSize());
        hikari.setPoolName("cdc-pool");
        hikari.addDataSourceProperty("ApplicationName", "cdc-notify");
        hikari.addDataSourceProperty("tcpKeepAlive", "true");
        hikari.setConnectionTimeout(5_000);
        HikariDataSource pool = new HikariDataSource(hikari);
        try {
            migrate(pool);
            return new Database(config, pool);
        } catch (RuntimeException e) {
            pool.close();
            throw e;
        }
    }

    static void migrate(DataSource dataSource) {
        Flyway.configure()
                .dataSource(dataSource)
                .schemas("cdc")
                .createSchemas(true)
                .table("schema_history")
                .locations("classpath:db/migration")
                .load()
                .migrate();
    }

    public DataSource dataSource() {
        return pool;
    }

    public DbClient client() {
        return client;
    }

    /**
     * A new connection outside the pool, for the LISTEN loop: autocommit, TCP keepalive, and a name that
     * shows in {@code pg_stat_activity}.
     */
    public Connection openListenerConnection() throws SQLException {
        return openListenerConnection(new Properties());
    }

    /** The LISTEN connection with {@code extra} driver properties (the listener's ringing socket factory). */
    public Connection openListenerConnection(Properties extra) throws SQLException {
        return openOutsidePool(LISTENER_APPLICATION_NAME, extra);
    }

    /** A new connection outside the pool under another name (the relay's leadership lock holds one). */
    public Connection openDedicatedConnection(String applicationName) throws SQLException {
        return openOutsidePool(applicationName, new Properties());
    }

    private Connection openOutsidePool(String applicationName, Properties extra) throws SQLException {
        Properties props = new Properties();
        props.putAll(extra);
        props.setProperty("user", config.user());
        props.setProperty("password", config.password());
        props.setProperty("ApplicationName", applicationName);
        props.setProperty("tcpKeepAlive", "true");
        props.setProperty("connectTimeout", "5");
        Connection connection = DriverManager.getConnection(config.url(), props);
        connection.setAutoCommit(true);
        return connection;
    }

    /** True when the database answers a trivial query within a second. */
    public boolean reachable() {
        try (Connection c = pool.getConnection()) {
            return c.isValid(1);
        } catch (SQLException e) {
            return false;
        }
    }

    @Override
    public void close() {
        client.close();
        pool.close();
    }
}

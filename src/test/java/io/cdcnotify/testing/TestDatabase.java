package io.cdcnotify.testing;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A fresh database for one test class on the local PostgreSQL, dropped afterwards. Register it with
 * {@code @RegisterExtension static final TestDatabase DB = new TestDatabase();}.
 *
 * <p>The server is {@code CDC_TEST_DB_URL} (default {@code jdbc:postgresql://127.0.0.1:5432/}), user
 * {@code CDC_TEST_DB_USER} (default {@code postgres}), password {@code CDC_TEST_DB_PASSWORD} (default empty).
 */
public final class TestDatabase implements BeforeAllCallback, AfterAllCallback {

    private static final String BASE = env("CDC_TEST_DB_URL", "jdbc:postgresql://127.0.0.1:5432/");
    private static final String USER = env("CDC_TEST_DB_USER", "postgres");
    private static final String PASSWORD = env("CDC_TEST_DB_PASSWORD", "");

    private String name;

    @Override
    public void beforeAll(ExtensionContext context) throws SQLException {
        create(context.getRequiredTestClass());
    }

    @Override
    public void afterAll(ExtensionContext context) throws SQLException {
        drop();
    }

    /** Creates the database; for test engines that do not run JUnit extensions (jqwik). */
    public void create(Class<?> owner) throws SQLException {
        name = ("cdc_test_" + owner.getSimpleName() + "_"
                + Integer.toHexString(ThreadLocalRandom.current().nextInt())).toLowerCase(Locale.ROOT);
        try (Connection c = admin(); Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE " + name);
        }
    }

    /** Drops the database. */
    public void drop() throws SQLException {
        try (Connection c = admin(); Statement st = c.createStatement()) {
            st.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
        }
    }

    public String url() {
        return BASE + name;
    }

    public String user() {
        return USER;
    }

    public String password() {
        return PASSWORD;
    }

    /** A new autocommit connection to this database. */
    public Connection connect() throws SQLException {
        return DriverManager.getConnection(url(), USER, PASSWORD);
    }

    private static Connection admin() throws SQLException {
        return DriverManager.getConnection(BASE + "postgres", USER, PASSWORD);
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? fallback : v;
    }
}

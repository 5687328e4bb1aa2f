package io.cdcnotify.browser;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.stream.Stream;

import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * A headless Chromium for one test, driven by Selenium through Debian's chromedriver. Paths are given
 * explicitly, so Selenium Manager never tries to download a browser or a driver; each browser gets a fresh
 * profile, deleted on {@link #close}.
 *
 * <p>{@code CDC_CHROMIUM} and {@code CDC_CHROMEDRIVER} override {@code /usr/bin/chromium} and
 * {@code /usr/bin/chromedriver}.
 */
final class Browser implements AutoCloseable {

    static final Path CHROMIUM = Path.of(env("CDC_CHROMIUM", "/usr/bin/chromium"));
    static final Path CHROMEDRIVER = Path.of(env("CDC_CHROMEDRIVER", "/usr/bin/chromedriver"));
    static final Duration WAIT = Duration.ofSeconds(30);

    private final ChromeDriver driver;
    private final Path profile;

    private Browser(ChromeDriver driver, Path profile) {
        this.driver = driver;
        this.profile = profile;
    }

    static Browser launch() {
        for (Path p : List.of(CHROMIUM, CHROMEDRIVER)) {
            if (!Files.isExecutable(p)) {
                throw new AssertionError(p + " is missing: the browser tests need Debian's Chromium and its driver "
                                         + "(apt-get install -y chromium chromium-driver; .ci/run installs them)");
            }
        }
        Path profile;
        try {
            profile = Files.createTempDirectory("cdc-chromium-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        // --no-sandbox: tests run as root; the rest keeps a headless browser from calling home or updating.
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                             "--disable-background-networking", "--disable-component-update", "--disable-sync",
                             "--disable-dev-shm-usage", "--window-size=1280,900", "--user-data-dir=" + profile);
        // the page's console (errors, failed requests such as a 403 or a missing favicon) for consoleErrors()
        options.setCapability("goog:loggingPrefs", Map.of("browser", "ALL"));
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort()
                .build();
        try {
            ChromeDriver driver = new ChromeDriver(service, options);
            driver.manage().timeouts().pageLoadTimeout(WAIT).scriptTimeout(WAIT);
            return new Browser(driver, profile);
        } catch (RuntimeException e) {
            deleteTree(profile);
            throw e;
        }
    }

    /** Runs {@code script} in every page this browser loads from now on, before the page's own scripts. */
    void beforeEveryPage(String script) {
        driver.executeCdpCommand("Page.addScriptToEvaluateOnNewDocument", Map.of("source", script));
    }

    void open(URI uri) {
        driver.get(uri.toString());
    }

    WebElement find(String id) {
        return driver.findElement(By.id(id));
    }

    String text(String id) {
        return find(id).getText();
    }

    @SuppressWarnings("unchecked")
    <T> T script(String script, Object... args) {
        return (T) ((JavascriptExecutor) driver).executeScript(script, args);
    }

    String currentUrl() {
        return driver.getCurrentUrl();
    }

    /** The ids of the event rows in {@code #events}, newest first, as many times as each is shown. */
    List<String> eventIds() {
        List<Object> ids = script("return [...document.querySelectorAll('#events tr[data-id]')]"
                                  + ".map((row) => row.dataset.id);");
        return ids.stream().map(String::valueOf).toList();
    }

    /** The text of the connection notes in {@code #events}, newest first. */
    List<String> notes() {
        List<Object> notes = script("return [...document.querySelectorAll('#events tr.note')]"
                                    + ".map((row) => row.textContent);");
        return notes.stream().map(String::valueOf).toList();
    }

    /** Waits until {@code condition} holds; on timeout the failure shows what the console showed. */
    <T> T await(String what, Function<Browser, T> condition) {
        return new WebDriverWait(driver, WAIT, Duration.ofMillis(50))
                .withMessage(() -> what + "; the console showed state=" + text("state") + " transport="
                                   + text("transport") + " error=" + text("error") + " notes=" + notes()
                                   + " events=" + eventIds())
                .until((WebDriver d) -> {
                    T value = condition.apply(this);
                    return value instanceof Boolean b && !b ? null : value;
                });
    }

    void awaitState(String state, String transport) {
        await("console " + state + " over " + transport, b -> state.equals(b.find("state").getAttribute("data-state"))
                                                              && transport.equals(b.text("transport")));
    }

    /** What the browser's console showed as errors since the last call: failed requests, script errors. */
    List<String> consoleErrors() {
        return driver.manage().logs().get(LogType.BROWSER).getAll().stream()
                .filter(e -> e.getLevel().intValue() >= Level.SEVERE.intValue())
                .map(LogEntry::getMessage)
                .toList();
    }

    byte[] screenshot() {
        return driver.getScreenshotAs(OutputType.BYTES);
    }

    @Override
    public void close() {
        try {
            driver.quit();
        } finally {
            deleteTree(profile);
        }
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temp dir left behind
        }
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? fallback : v;
    }
}

package io.cdcnotify.hostile;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;

import io.cdcnotify.config.Settings;
import io.helidon.config.Config;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.WebServerConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.bridge.SLF4JBridgeHandler;

/**
 * The service as {@code Main} wires it ({@code Main.setup}, through {@code TestAccess}), in a child JVM, with the
 * outbox listener's fault-injection seam driven over stdin: {@code fail <thread>} makes every loop of that
 * listener thread throw an {@link OutOfMemoryError} (so each replacement dies too), {@code heal} lifts it.
 *
 * <p>The seam ({@code OutboxListener.injectFault}, package-private, and {@code TestAccess.setupReturningListener})
 * is reached by reflection, so this compiles on a branch without it; there it logs {@code fault seam: absent}.
 */
public final class FaultInjectingMain {

    private static final Logger LOG = LoggerFactory.getLogger(FaultInjectingMain.class);

    private FaultInjectingMain() {
    }

    public static void main(String[] args) throws Exception {
        SLF4JBridgeHandler.removeHandlersForRootLogger();
        SLF4JBridgeHandler.install();
        Config config = Settings.load();
        WebServerConfig.Builder builder = WebServer.builder().shutdownHook(false);
        Class<?> access = Class.forName("io.cdcnotify.TestAccess");
        Object listener = null;
        try {
            Method setup = access.getMethod("setupReturningListener", WebServerConfig.Builder.class, Config.class);
            listener = setup.invoke(null, builder, config);
        } catch (NoSuchMethodException e) {
            access.getMethod("setup", WebServerConfig.Builder.class, Config.class).invoke(null, builder, config);
        }
        WebServer server = builder.build().start();
        LOG.info("fault seam: {}", listener == null ? "absent" : "present");
        LOG.info("cdc-notify (fault-injecting) listening on port {}", server.port());
        Object target = listener;
        BufferedReader commands = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = commands.readLine(); line != null; line = commands.readLine()) {
            if (target == null) {
                continue;
            }
            if (line.startsWith("fail ")) {
                inject(target, line.substring(5).trim());
                LOG.info("fault injected into {}", line.substring(5).trim());
            } else if (line.equals("heal")) {
                inject(target, null);
                LOG.info("fault lifted");
            }
        }
        server.stop();
    }

    /** Sets the listener's fault: an OutOfMemoryError at every loop of {@code thread}, or none. */
    private static void inject(Object listener, String thread) throws Exception {
        Class<?> faultType = Class.forName("io.cdcnotify.listen.OutboxListener$Fault");
        Object fault;
        if (thread == null) {
            java.lang.reflect.Field none = faultType.getDeclaredField("NONE");
            none.setAccessible(true);
            fault = none.get(null);
        } else {
            fault = Proxy.newProxyInstance(faultType.getClassLoader(), new Class<?>[] {faultType}, (p, m, a) -> {
                if (m.getName().equals("at") && thread.equals(a[0])) {
                    throw new OutOfMemoryError("injected by the hostile suite");
                }
                return switch (m.getName()) {
                    case "toString" -> "fault in " + thread;
                    case "hashCode" -> System.identityHashCode(p);
                    case "equals" -> p == a[0];
                    default -> null;
                };
            });
        }
        Method inject = listener.getClass().getDeclaredMethod("injectFault", faultType);
        inject.setAccessible(true);
        inject.invoke(listener, fault);
    }
}

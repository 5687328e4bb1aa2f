package io.cdcnotify.ws;

import io.helidon.common.Weighted;
import io.helidon.webserver.ProtocolConfigs;
import io.helidon.webserver.http1.spi.Http1UpgradeProvider;
import io.helidon.webserver.http1.spi.Http1Upgrader;
import io.helidon.webserver.spi.ProtocolConfig;
import io.helidon.webserver.websocket.WsConfig;

/**
 * Puts {@link StrictWsUpgrader} in place of Helidon's WebSocket upgrader for the same {@code websocket} protocol
 * configuration. Found by the service loader ({@code META-INF/services}); the HTTP/1.1 connection keeps the first
 * upgrader per protocol in weight order, and this one weighs more than Helidon's (default 100).
 */
public final class StrictWsUpgradeProvider implements Http1UpgradeProvider<WsConfig>, Weighted {

    public StrictWsUpgradeProvider() {
    }

    @Override
    public String protocolType() {
        return "websocket";
    }

    @Override
    public Class<WsConfig> protocolConfigType() {
        return WsConfig.class;
    }

    @Override
    public Http1Upgrader create(WsConfig config, ProtocolConfigs configs) {
        return new StrictWsUpgrader(config);
    }

    @Override
    public double weight() {
        return 200;
    }
}

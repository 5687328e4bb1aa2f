package io.cdcnotify.api;

/**
 * How events reach this instance, as {@code /v1/state} reports it.
 *
 * @param mode             {@code database} (this instance reads the outbox) or {@code nats} (relay mode)
 * @param leader           relay mode: whether this instance is the one reading the outbox
 * @param stream           relay mode: the JetStream stream's name
 * @param streamSequence   relay mode: the stream's last sequence
 * @param consumedSequence relay mode: the sequence of the last event this instance fed its clients
 */
public record FanoutState(String mode, boolean leader, String stream, long streamSequence, long consumedSequence) {

    public static FanoutState database() {
        return new FanoutState("database", false, null, 0, 0);
    }
}

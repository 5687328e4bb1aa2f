package io.cdcnotify.outbox;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Base64;
import java.util.Optional;
import java.util.stream.LongStream;
import java.util.zip.CRC32C;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The cursor codec: what it encodes comes back, and nothing it did not encode is accepted. */
class CursorTest {

    private static final String ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    /** Base64url, plus what a mangled string could plausibly contain instead. */
    private static final String MUTATION_CHARS = ALPHABET + "=+/ .%\u00e9\n";

    // ---- round trip ----

    @Property(tries = 2000)
    void encodeThenDecodeGivesTheSameCursor(@ForAll("cursors") Cursor cursor) {
        String text = cursor.encode();

        assertThat(Cursor.decode(text)).contains(cursor);
        assertThat(text).matches("[A-Za-z0-9_-]+");
    }

    @Property(tries = 500)
    void aCursorsTextIsCanonical(@ForAll("cursors") Cursor cursor) {
        // decode accepts exactly one spelling per cursor: encode(decode(s)) == s
        String text = cursor.encode();
        assertThat(Cursor.decode(text).map(Cursor::encode)).contains(text);
    }

    @Test
    void extremeValuesRoundTrip() {
        long max = Long.MAX_VALUE;
        for (Cursor c : new Cursor[] {
                new Cursor(1, 1, new long[0]),
                new Cursor(max, max, new long[0]),
                new Cursor(max, 1, new long[] {1, max - 1}),
                new Cursor(max, max, new long[] {1, 2, 3, max / 2, max - 2, max - 1}),
                new Cursor(2, max, new long[] {1}),
        }) {
            assertThat(Cursor.decode(c.encode())).as(c.toString()).contains(c);
        }
    }

    @Test
    void aTypicalCursorIsShort() {
        // the design promises "typically under 30 characters"
        Cursor c = new Cursor(48_213_772, 9_120_455, new long[] {48_213_701, 48_213_770});
        assertThat(c.encode().length()).isLessThan(30);
    }

    @Test
    void equalityIsByValueIncludingThePendingArray() {
        Cursor a = new Cursor(10, 5, new long[] {3, 7});
        Cursor b = new Cursor(10, 5, new long[] {3, 7});
        Cursor c = new Cursor(10, 5, new long[] {3, 8});

        assertThat(a).isEqualTo(b).hasSameHashCodeAs(b).isNotEqualTo(c);
        assertThat(a).isNotEqualTo(new Cursor(10, 6, new long[] {3, 7}));
        assertThat(a).isNotEqualTo(new Cursor(11, 5, new long[] {3, 7}));
        assertThat(a.toString()).contains("3, 7");
    }

    /**
     * A cursor the service issues must be accepted back (contract section 3): the constructor, used by the
     * reader with whatever transactions are in progress, must not make a cursor that decode refuses. Refusing
     * such a cursor up front would be a fix as well.
     */
    @Test
    void everyCursorTheConstructorAcceptsDecodesAgain() {
        long[] manyPending = LongStream.rangeClosed(1, 4097).toArray();
        long[] widelySpread = LongStream.rangeClosed(1, 4096).map(i -> i * 20_000).toArray();
        for (long[] pending : new long[][] {manyPending, widelySpread}) {
            Cursor cursor;
            try {
                cursor = new Cursor(100_000_000, 7, pending);
            } catch (IllegalArgumentException refused) {
                continue;
            }
            Optional<Cursor> decoded = Cursor.decode(cursor.encode());
            assertThat(decoded.isPresent() && decoded.get().equals(cursor))
                    .as("the service issued a cursor with %d pending transactions (%d characters) and then refuses it",
                        pending.length, cursor.encode().length())
                    .isTrue();
        }
    }

    // ---- the constructor's rules ----

    @Test
    void constructorRejectsNonPositiveXidOrId() {
        assertThatThrownBy(() -> new Cursor(0, 1, new long[0])).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Cursor(-5, 1, new long[0])).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Cursor(5, 0, new long[0])).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Cursor(5, -1, new long[0])).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void constructorRejectsInvalidPendingLists() {
        long[][] invalid = {
                {0},            // not positive
                {-3},           // negative
                {10},           // equal to xid
                {11},           // above xid
                {5, 5},         // duplicate
                {7, 5},         // descending
                {1, 2, 9, 8},   // not ascending at the end
                {1, 10},        // last one not below xid
        };
        for (long[] pending : invalid) {
            assertThatThrownBy(() -> new Cursor(10, 1, pending))
                    .as(Arrays.toString(pending))
                    .isInstanceOf(IllegalArgumentException.class);
        }
        assertThatCode(() -> new Cursor(10, 1, new long[] {1, 2, 9})).doesNotThrowAnyException();
    }

    // ---- garbage ----

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "A", "AAAA", "AAAAAAA", "====", "not a cursor", "AQEBAAAAAAA=", "AQEB%3D",
            "../../etc/passwd", "\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000"})
    void rejectsObviousGarbage(String text) {
        assertThat(Cursor.decode(text)).isEmpty();
    }

    @Test
    void rejectsNull() {
        assertThat(Cursor.decode(null)).isEmpty();
    }

    @Property(tries = 3000)
    void rejectsRandomStrings(@ForAll String text) {
        assertThat(Cursor.decode(text)).isEmpty();
    }

    @Property(tries = 3000)
    void rejectsRandomBase64urlText(@ForAll("base64urlText") String text) {
        assertThat(Cursor.decode(text)).isEmpty();
    }

    @Property(tries = 3000)
    void rejectsValidBase64OfRandomBytes(@ForAll byte[] bytes) {
        assertThat(Cursor.decode(Base64.getUrlEncoder().withoutPadding().encodeToString(bytes))).isEmpty();
        assertThat(Cursor.decode(Base64.getUrlEncoder().encodeToString(bytes))).isEmpty();
    }

    @Test
    void rejectsTextLongerThanTheLimit() {
        assertThat(Cursor.decode("A".repeat(1024 * 1024 + 1))).isEmpty();
        long[] deltas = new long[Cursor.MAX_PENDING];
        Arrays.fill(deltas, 1L << 40); // six varint bytes each: still within the length limit
        assertThat(Cursor.decode(wire(body(1, Long.MAX_VALUE / 2, 7, deltas.length, deltas)))).isPresent();
    }

    @Test
    void aHandBuiltCursorDecodes() {
        // sanity for the helpers below: the same bytes with a correct structure are accepted
        assertThat(Cursor.decode(wire(body(1, 10, 20, 2, 3, 4)))).contains(new Cursor(10, 20, new long[] {3, 7}));
        assertThat(Cursor.decode(wire(body(1, 10, 20, 0)))).contains(new Cursor(10, 20, new long[0]));
    }

    @Test
    void rejectsAnotherVersion() {
        assertThat(Cursor.decode(wire(body(2, 10, 20, 0)))).isEmpty();
        assertThat(Cursor.decode(wire(body(0, 10, 20, 0)))).isEmpty();
    }

    @Test
    void rejectsTrailingBytes() {
        byte[] body = body(1, 10, 20, 0);
        byte[] longer = Arrays.copyOf(body, body.length + 1);
        assertThat(Cursor.decode(wire(longer))).isEmpty();
    }

    @Test
    void rejectsMissingBytes() {
        byte[] body = body(1, 10, 20, 2, 3);   // says two pending, has one
        assertThat(Cursor.decode(wire(body))).isEmpty();
        assertThat(Cursor.decode(wire(new byte[] {1}))).isEmpty();
        assertThat(Cursor.decode(wire(new byte[0]))).isEmpty();
    }

    @Test
    void rejectsMorePendingThanTheLimit() {
        long[] deltas = new long[Cursor.MAX_PENDING + 1];
        Arrays.fill(deltas, 1);
        assertThat(Cursor.decode(wire(body(1, 1_000_000, 5, deltas.length, deltas)))).isEmpty();
        long[] limit = Arrays.copyOf(deltas, Cursor.MAX_PENDING);
        assertThat(Cursor.decode(wire(body(1, 1_000_000, 5, limit.length, limit)))).isPresent();
        // a huge count must not allocate a huge array first
        assertThat(Cursor.decode(wire(body(1, 100_000, 5, Long.MAX_VALUE)))).isEmpty();
    }

    @Test
    void rejectsNonCanonicalOrOverlongVarints() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(1);
        out.writeBytes(new byte[] {(byte) 0x8A, 0x00}); // 10, padded with a zero continuation byte
        out.write(20);
        out.write(0);
        assertThat(Cursor.decode(wire(out.toByteArray()))).isEmpty();

        ByteArrayOutputStream tooLong = new ByteArrayOutputStream();
        tooLong.write(1);
        for (int i = 0; i < 9; i++) {
            tooLong.write(0x81);
        }
        tooLong.write(0x01);
        tooLong.write(20);
        tooLong.write(0);
        assertThat(Cursor.decode(wire(tooLong.toByteArray()))).isEmpty();
    }

    @Test
    void rejectsContentsTheConstructorWouldRefuse() {
        assertThat(Cursor.decode(wire(body(1, 0, 20, 0)))).as("xid 0").isEmpty();
        assertThat(Cursor.decode(wire(body(1, 10, 0, 0)))).as("id 0").isEmpty();
        assertThat(Cursor.decode(wire(body(1, 10, 20, 1, 0)))).as("pending equal to xid").isEmpty();
        assertThat(Cursor.decode(wire(body(1, 10, 20, 2, 3, 0)))).as("duplicate pending").isEmpty();
        assertThat(Cursor.decode(wire(body(1, 10, 20, 1, 10)))).as("pending 0").isEmpty();
        assertThat(Cursor.decode(wire(body(1, 10, 20, 1, 11)))).as("pending negative").isEmpty();
        assertThat(Cursor.decode(wire(body(1, 10, 20, 2, 3, Long.MAX_VALUE)))).as("wraps around").isEmpty();
    }

    @Test
    void rejectsAValidCursorWithPadding() {
        String valid = new Cursor(123_456, 654_321, new long[] {123_400}).encode();
        byte[] bytes = Base64.getUrlDecoder().decode(valid);
        String padded = Base64.getUrlEncoder().encodeToString(bytes);
        if (!padded.equals(valid)) {
            assertThat(Cursor.decode(padded)).isEmpty();
        }
        assertThat(Cursor.decode(valid + "=")).isEmpty();
        assertThat(Cursor.decode(" " + valid)).isEmpty();
        assertThat(Cursor.decode(valid + "\n")).isEmpty();
        assertThat(Cursor.decode(valid)).isPresent();
    }

    // ---- generators and helpers ----

    @Provide
    Arbitrary<Cursor> cursors() {
        return cursors(40);
    }

    /** Cursors of the size the service issues most: a handful of pending transactions. */
    @Provide
    Arbitrary<Cursor> smallCursors() {
        return cursors(6);
    }

    private static Arbitrary<Cursor> cursors(int maxPending) {
        Arbitrary<Long> xids = Arbitraries.oneOf(
                Arbitraries.longs().between(1, 2_000),
                Arbitraries.longs().between(1, 100_000_000),
                Arbitraries.longs().between(1, Long.MAX_VALUE));
        Arbitrary<Long> ids = Arbitraries.oneOf(
                Arbitraries.longs().between(1, 1_000),
                Arbitraries.longs().between(1, Long.MAX_VALUE));
        return xids.flatMap(xid -> Combinators.combine(ids, pending(xid, maxPending))
                .as((id, p) -> new Cursor(xid, id, p)));
    }

    private static Arbitrary<long[]> pending(long xid, int maxPending) {
        if (xid == 1) {
            return Arbitraries.just(new long[0]);
        }
        int max = (int) Math.min(maxPending, xid - 1);
        Arbitrary<Long> anywhere = Arbitraries.longs().between(1, xid - 1);
        Arbitrary<Long> close = Arbitraries.longs().between(Math.max(1, xid - 200), xid - 1);
        return Arbitraries.oneOf(anywhere, close).set().ofMaxSize(max)
                .map(s -> s.stream().mapToLong(Long::longValue).sorted().toArray());
    }

    @Provide
    Arbitrary<String> base64urlText() {
        return Arbitraries.strings().withChars(ALPHABET.toCharArray()).ofMinLength(1).ofMaxLength(80);
    }

    /** A version byte and unsigned varints, as the encoder writes them. */
    private static byte[] body(int version, long xid, long id, long count, long... deltas) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(version);
        varint(out, xid);
        varint(out, id);
        varint(out, count);
        for (long d : deltas) {
            varint(out, d);
        }
        return out.toByteArray();
    }

    private static void varint(ByteArrayOutputStream out, long value) {
        long v = value;
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    /** The body with a correct CRC-32C, as base64url without padding: passes every check but the structure. */
    private static String wire(byte[] body) {
        CRC32C crc = new CRC32C();
        crc.update(body);
        byte[] all = Arrays.copyOf(body, body.length + 4);
        ByteBuffer.wrap(all, body.length, 4).putInt((int) crc.getValue());
        return Base64.getUrlEncoder().withoutPadding().encodeToString(all);
    }

    @Property(tries = 200)
    void handBuiltBytesMatchTheEncoder(@ForAll("cursors") Cursor cursor) {
        // keeps the structure tests above honest: wire(body(...)) is exactly what encode() writes
        long[] p = cursor.pending();
        long[] deltas = new long[p.length];
        long previous = cursor.xid();
        for (int i = p.length - 1, j = 0; i >= 0; i--, j++) {
            deltas[j] = previous - p[i];
            previous = p[i];
        }
        assertThat(wire(body(1, cursor.xid(), cursor.id(), p.length, deltas))).isEqualTo(cursor.encode());
    }

    @Property(tries = 100)
    void decodeNeverThrowsOnArbitraryBytesWithAValidCrc(@ForAll @IntRange(min = 0, max = 40) int length,
                                                        @ForAll byte[] seed) {
        // random bodies that pass the CRC reach the structure checks: they must refuse, never throw
        byte[] body = Arrays.copyOf(seed, Math.min(length, seed.length));
        Optional<Cursor> decoded = Cursor.decode(wire(body));
        decoded.ifPresent(c -> assertThat(c.encode()).isEqualTo(wire(body)));
    }
}

package io.cdcnotify.outbox;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Base64;
import java.util.Optional;
import java.util.zip.CRC32C;

/**
 * A position in the outbox that names only database facts, so it resumes on any instance and after restarts.
 *
 * <p>A cursor is the {@code (xid, id)} of an event plus the transactions that were still running, below
 * {@code xid}, when that event was read. Resuming reads every row with {@code (xid, id) > (xid, id)} and every
 * row of a transaction in {@code pending}: together, exactly what the reader had not yet seen (see
 * {@code docs/design/delivery.md}).
 *
 * <p>Wire form: base64url (no padding) of a version byte, unsigned varints for {@code xid}, {@code id}, the
 * number of pending transactions and their distances (each from the previous, starting at {@code xid}), and a
 * CRC-32C of all that, so a mangled or invented string is refused rather than misread.
 *
 * @param xid     the event's transaction id (xid8, always below 2^63 in practice)
 * @param id      the event's outbox id
 * @param pending transaction ids below {@code xid} that were in progress, ascending, distinct
 */
public record Cursor(long xid, long id, long[] pending) {

    private static final int VERSION = 1;
    /** More transactions in progress at once than PostgreSQL's connection limits allow in practice. */
    static final int MAX_PENDING = 65_536;
    /** Room for MAX_PENDING ten-byte varints in base64. */
    private static final int MAX_ENCODED_LENGTH = 1024 * 1024;

    public Cursor {
        if (xid <= 0 || id <= 0) {
            throw new IllegalArgumentException("xid and id must be positive");
        }
        if (pending.length > MAX_PENDING) {
            throw new IllegalArgumentException("more than " + MAX_PENDING + " pending transactions");
        }
        for (int i = 0; i < pending.length; i++) {
            if (pending[i] <= 0 || pending[i] >= xid || (i > 0 && pending[i] <= pending[i - 1])) {
                throw new IllegalArgumentException("pending must be ascending, distinct, positive and below xid");
            }
        }
    }

    /** The cursor's string form. */
    public String encode() {
        ByteArrayOutputStream out = new ByteArrayOutputStream(16 + 3 * pending.length);
        out.write(VERSION);
        writeVarint(out, xid);
        writeVarint(out, id);
        writeVarint(out, pending.length);
        long previous = xid;
        for (int i = pending.length - 1; i >= 0; i--) {
            writeVarint(out, previous - pending[i]);
            previous = pending[i];
        }
        byte[] body = out.toByteArray();
        CRC32C crc = new CRC32C();
        crc.update(body);
        int check = (int) crc.getValue();
        byte[] all = Arrays.copyOf(body, body.length + 4);
        ByteBuffer.wrap(all, body.length, 4).putInt(check);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(all);
    }

    /** The cursor a string names, or empty when it is not a cursor this service issued. */
    public static Optional<Cursor> decode(String text) {
        if (text == null || text.isEmpty() || text.length() > MAX_ENCODED_LENGTH) {
            return Optional.empty();
        }
        byte[] all;
        try {
            all = Base64.getUrlDecoder().decode(text);
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
        if (all.length < 5 || !Base64.getUrlEncoder().withoutPadding().encodeToString(all).equals(text)) {
            return Optional.empty();
        }
        int bodyLength = all.length - 4;
        CRC32C crc = new CRC32C();
        crc.update(all, 0, bodyLength);
        if ((int) crc.getValue() != ByteBuffer.wrap(all, bodyLength, 4).getInt()) {
            return Optional.empty();
        }
        try {
            ByteBuffer in = ByteBuffer.wrap(all, 0, bodyLength);
            if (in.get() != VERSION) {
                return Optional.empty();
            }
            long xid = readVarint(in);
            long id = readVarint(in);
            long count = readVarint(in);
            if (count > MAX_PENDING) {
                return Optional.empty();
            }
            long[] pending = new long[(int) count];
            long previous = xid;
            for (int i = pending.length - 1; i >= 0; i--) {
                previous -= readVarint(in);
                pending[i] = previous;
            }
            if (in.hasRemaining()) {
                return Optional.empty();
            }
            return Optional.of(new Cursor(xid, id, pending));
        } catch (IllegalArgumentException | java.nio.BufferUnderflowException e) {
            return Optional.empty();
        }
    }

    private static void writeVarint(ByteArrayOutputStream out, long value) {
        long v = value;
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    private static long readVarint(ByteBuffer in) {
        long result = 0;
        for (int shift = 0; shift < 63; shift += 7) {
            int b = in.get() & 0xFF;
            result |= (long) (b & 0x7F) << shift;
            if ((b & 0x80) == 0) {
                if (shift > 0 && b == 0) {
                    throw new IllegalArgumentException("non-canonical varint");
                }
                return result;
            }
        }
        throw new IllegalArgumentException("varint too long");
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Cursor c && c.xid == xid && c.id == id && Arrays.equals(c.pending, pending);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Long.hashCode(xid) + Long.hashCode(id)) + Arrays.hashCode(pending);
    }

    @Override
    public String toString() {
        return "Cursor[xid=" + xid + ", id=" + id + ", pending=" + Arrays.toString(pending) + "]";
    }
}

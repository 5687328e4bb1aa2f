package io.cdcnotify.subscription;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import org.junit.jupiter.api.Test;

/** Which last cursors a sync writes: what changed, at most a fifth of the subscriptions per sync, oldest first. */
class CursorWritesTest {

    private final CursorWrites writes = new CursorWrites();

    @Test
    void fewChangedCursorsAreAllWrittenInOneSync() {
        List<CursorWrites.Candidate> current = candidates(CursorWrites.MIN_PER_SYNC, "a");

        Map<String, String> first = writes.select(current, current.size());
        writes.done(first);

        assertThat(first).hasSize(CursorWrites.MIN_PER_SYNC).containsEntry("s-7", "a7");
        assertThat(writes.select(current, current.size())).as("nothing changed since").isEmpty();
    }

    @Test
    void onlyWhatChangedIsWrittenAgain() {
        writes.done(writes.select(candidates(10, "a"), 10));

        List<CursorWrites.Candidate> current = new java.util.ArrayList<>(candidates(10, "a"));
        current.set(3, new CursorWrites.Candidate("s-3", "b3"));

        assertThat(writes.select(current, 10)).containsExactlyEntriesOf(Map.of("s-3", "b3"));
    }

    @Test
    void manyChangedCursorsAreSpreadOverFiveSyncsAndEachIsWrittenWithinThem() {
        int n = 1_000;
        Map<String, Integer> writtenInSync = new HashMap<>();
        for (int sync = 1; sync <= 12; sync++) {
            // every subscription moves between two syncs, as under steady load
            Map<String, String> selected = writes.select(candidates(n, "c" + sync + "-"), n);
            writes.done(selected);

            assertThat(selected).as("sync %d writes a fifth", sync).hasSize(n / CursorWrites.SPREAD);
            for (String id : selected.keySet()) {
                Integer last = writtenInSync.put(id, sync);
                if (last != null) {
                    assertThat(sync - last).as("%s written again after", id).isEqualTo(CursorWrites.SPREAD);
                }
            }
            if (sync == CursorWrites.SPREAD) {
                assertThat(writtenInSync).as("every cursor written within five syncs").hasSize(n);
            }
        }
    }

    @Test
    void aForgottenSubscriptionIsWrittenAfreshWhenItComesBack() {
        writes.done(writes.select(candidates(1, "a"), 1));
        writes.forget("s-0");

        assertThat(writes.select(candidates(1, "a"), 1)).containsExactlyEntriesOf(Map.of("s-0", "a0"));
    }

    private static List<CursorWrites.Candidate> candidates(int n, String cursorPrefix) {
        return IntStream.range(0, n).mapToObj(i -> new CursorWrites.Candidate("s-" + i, cursorPrefix + i)).toList();
    }
}

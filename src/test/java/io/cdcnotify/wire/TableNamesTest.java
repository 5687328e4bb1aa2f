package io.cdcnotify.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Contract section 6: a table name is {@code [A-Za-z0-9_.]{1,128}}, or {@code *}. */
class TableNamesTest {

    @ParameterizedTest
    @ValueSource(strings = {"orders", "Orders", "public.orders", "a", "_", ".", "9", "order_items_2026", "*",
            "schema.table.with.dots", "ALLCAPS_TABLE"})
    void valid(String name) {
        assertThat(TableNames.valid(name)).isTrue();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "orders ", " orders", "or ders", "orders-2", "orders;drop", "ord\"ers",
            "**", "*orders", "orders*", "caf\u00e9", "\u0417\u0430\u043a\u0430\u0437", "tab\tle", "a/b", "a\\b",
            "orders\n", "%2C", "a,b", "ﬁ", "\uff41"})
    void invalid(String name) {
        assertThat(TableNames.valid(name)).isFalse();
    }

    @Test
    void nullIsInvalid() {
        assertThat(TableNames.valid(null)).isFalse();
    }

    @Test
    void atMost128Characters() {
        assertThat(TableNames.valid("t".repeat(128))).isTrue();
        assertThat(TableNames.valid("t".repeat(129))).isFalse();
        assertThat(TableNames.valid("t".repeat(100_000))).isFalse();
    }

    @Property(tries = 3000)
    void validExactlyWhenEveryCharacterIsAllowed(@ForAll String name) {
        boolean expected = name.equals("*") || (!name.isEmpty() && name.length() <= 128
                && name.chars().allMatch(c -> (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                        || (c >= '0' && c <= '9') || c == '_' || c == '.'));
        assertThat(TableNames.valid(name)).isEqualTo(expected);
    }

    @Test
    void problemWithAList() {
        assertThat(TableNames.problem(List.of("orders", "customers"))).isEmpty();
        assertThat(TableNames.problem(List.of("*"))).isEmpty();
        assertThat(TableNames.problem(List.of())).hasValueSatisfying(m -> assertThat(m).contains("empty"));
        assertThat(TableNames.problem(List.of("orders", "bad name"))).isPresent();
        assertThat(TableNames.problem(List.of("bad name", "orders"))).isPresent();
        assertThat(TableNames.problem(List.of(""))).isPresent();
        List<String> withNull = new ArrayList<>(Arrays.asList("orders", null));
        assertThat(TableNames.problem(withNull)).isPresent();
    }

    @Test
    void theProblemDoesNotEchoTheName() {
        // an error message goes back to the client: it should not carry whatever the client sent
        String hostile = "<script>alert(1)</script>";
        assertThat(TableNames.problem(List.of(hostile))).hasValueSatisfying(m -> assertThat(m).doesNotContain(hostile));
    }
}

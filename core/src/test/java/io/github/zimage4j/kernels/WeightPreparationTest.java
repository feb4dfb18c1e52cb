package io.github.zimage4j.kernels;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WeightPreparationTest {

    @Test
    void listenersHearReportsUntilClosed() {
        List<WeightPreparation> heard = new ArrayList<>();
        WeightPreparation first = new WeightPreparation("test", "int8 conversion", "int8", 3, 1024, 0.5);
        try (WeightPreparation.Subscription s = WeightPreparation.listen(heard::add)) {
            assertSame(first, WeightPreparation.report(first), "report hands the work back");
        }
        WeightPreparation.report(new WeightPreparation("test", "after close", null, 1, 0, 0.1));
        assertEquals(List.of(first), heard);
    }

    @Test
    void theSameListenerTwiceIsTwoSubscriptions() {
        List<WeightPreparation> heard = new ArrayList<>();
        WeightPreparation r = new WeightPreparation("test", "repack", null, 1, 0, 0.2);
        try (WeightPreparation.Subscription a = WeightPreparation.listen(heard::add)) {
            try (WeightPreparation.Subscription b = WeightPreparation.listen(heard::add)) {
                WeightPreparation.report(r);
            }
            WeightPreparation.report(r);
        }
        assertEquals(3, heard.size(), "two subscriptions hear the first report, the remaining one the second");
    }

    @Test
    void noneIsNothingPrepared() {
        assertFalse(WeightPreparation.NONE.prepared());
        assertEquals("no weights prepared", WeightPreparation.NONE.toString());
        WeightPreparation w = new WeightPreparation("onednn", "Q8_0 weights to per-row int8", "int8", 210, 6_020_000_000L, 5.125);
        assertTrue(w.prepared());
        assertEquals("onednn: Q8_0 weights to per-row int8, 210 weights, 6.02 GB in 5.13 s", w.toString());
        assertEquals(0, w.kept());
        WeightPreparation kept = new WeightPreparation("onednn", "Q8_0 weights to per-row int8", "int8", 238, 6_020_000_000L, 5.125, 33);
        assertEquals("onednn: Q8_0 weights to per-row int8, 238 weights, 6.02 GB in 5.13 s;"
                + " 33 weights of precision-sensitive layers left as stored", kept.toString());
    }
}

package io.github.zimage4j.kernels;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class WeightPreparationTest {

    @Test
    void listenersHearReportsUntilClosed() {
        List<WeightPreparation.Report> heard = new ArrayList<>();
        WeightPreparation.Report first = new WeightPreparation.Report("test", "int8 conversion", 1024, 0.5);
        try (WeightPreparation.Subscription s = WeightPreparation.listen(heard::add)) {
            WeightPreparation.report(first);
        }
        WeightPreparation.report(new WeightPreparation.Report("test", "after close", 0, 0.1));
        assertEquals(List.of(first), heard);
    }

    @Test
    void theSameListenerTwiceIsTwoSubscriptions() {
        List<WeightPreparation.Report> heard = new ArrayList<>();
        WeightPreparation.Report r = new WeightPreparation.Report("test", "repack", 0, 0.2);
        try (WeightPreparation.Subscription a = WeightPreparation.listen(heard::add)) {
            try (WeightPreparation.Subscription b = WeightPreparation.listen(heard::add)) {
                WeightPreparation.report(r);
            }
            WeightPreparation.report(r);
        }
        assertEquals(3, heard.size(), "two subscriptions hear the first report, the remaining one the second");
    }
}

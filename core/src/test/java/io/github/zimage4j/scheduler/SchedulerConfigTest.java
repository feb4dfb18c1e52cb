package io.github.zimage4j.scheduler;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.JsonConfig;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading the real scheduler configs, refusing options that would change the schedule, and argument checks. */
class SchedulerConfigTest {

    private static final Path REAL = Golden.fixture("manifests/case-zimage-real/scheduler");

    @Test
    void readsTheReleasedTurboAndBaseConfigs() throws IOException {
        SchedulerConfig turbo = SchedulerConfig.read(REAL.resolve("scheduler_config.turbo.json"));
        SchedulerConfig base = SchedulerConfig.read(REAL.resolve("scheduler_config.base.json"));
        assertEquals(SchedulerConfig.withShift(3.0), turbo);
        assertEquals(SchedulerConfig.withShift(6.0), base);
        assertFalse(turbo.useDynamicShifting());
    }

    @Test
    void muIsCalculateShift() {
        SchedulerConfig c = SchedulerConfig.withShift(3.0);
        // The line passes through (256, 0.5) and (4096, 1.15).
        assertEquals(0.5, c.mu(256), 1e-15);
        assertEquals(1.15, c.mu(4096), 1e-15);
        assertEquals(4096, SchedulerConfig.imageSeqLen(128, 128));
    }

    @Test
    void refusesOptionsThatWouldChangeTheSchedule() {
        for (String option : new String[]{"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
                "invert_sigmas", "stochastic_sampling"}) {
            var e = assertThrows(JsonConfig.ConfigException.class, () -> parse("{\"" + option + "\": true}"));
            assertTrue(e.getMessage().contains(option) && e.getMessage().contains("test.json"), e.getMessage());
        }
        var e = assertThrows(JsonConfig.ConfigException.class, () -> parse("{\"shift_terminal\": 0.1}"));
        assertTrue(e.getMessage().contains("shift_terminal"), e.getMessage());
        e = assertThrows(JsonConfig.ConfigException.class, () -> parse("{\"time_shift_type\": \"cosine\"}"));
        assertTrue(e.getMessage().contains("cosine"), e.getMessage());
        e = assertThrows(JsonConfig.ConfigException.class, () -> parse("{\"_class_name\": \"EulerDiscreteScheduler\"}"));
        assertTrue(e.getMessage().contains("EulerDiscreteScheduler"), e.getMessage());
        e = assertThrows(JsonConfig.ConfigException.class, () -> parse("{\"shift\": \"3\"}"));
        assertTrue(e.getMessage().contains("\"shift\"") && e.getMessage().contains("test.json"), e.getMessage());
        e = assertThrows(JsonConfig.ConfigException.class, () -> parse("{\"shift\": -1}"));
        assertTrue(e.getMessage().contains("shift") && e.getMessage().contains("test.json"), e.getMessage());
        // Explicitly disabled options are fine.
        parse("{\"use_karras_sigmas\": false, \"shift_terminal\": null, \"invert_sigmas\": false}");
    }

    @Test
    void dynamicShiftingWithMuLnShiftIsTheStaticShift() {
        // Self-consistency, not a golden: e^μ/(e^μ + 1/σ − 1) with μ = ln(shift) is shift·σ/(1 + (shift − 1)·σ)
        // algebraically, so the two schedules agree to float32 rounding.
        SchedulerConfig dynamic = parse("{\"use_dynamic_shifting\": true, \"base_shift\": " + Math.log(3)
                + ", \"max_shift\": 1.5, \"base_image_seq_len\": 256}");
        Schedule a = new FlowMatchEulerScheduler(dynamic).zImageSchedule(8, 256);
        Schedule b = new FlowMatchEulerScheduler(SchedulerConfig.withShift(3)).zImageSchedule(8, 256);
        assertTrue(a.muUsed());
        assertFalse(b.muUsed());
        for (int i = 0; i <= 8; i++) {
            assertEquals(b.sigma(i), a.sigma(i), 1e-6, "sigma " + i);
        }
        SchedulerConfig linear = parse("{\"use_dynamic_shifting\": true, \"time_shift_type\": \"linear\", \"base_shift\": 3,"
                + " \"max_shift\": 4, \"base_image_seq_len\": 256}");
        Schedule c = new FlowMatchEulerScheduler(linear).zImageSchedule(8, 256);
        for (int i = 0; i <= 8; i++) {
            assertEquals(b.sigma(i), c.sigma(i), 1e-6, "linear sigma " + i);
        }
    }

    @Test
    void strengthAndStepChecks() {
        Schedule s = new FlowMatchEulerScheduler(SchedulerConfig.withShift(3)).zImageSchedule(8, 16);
        assertEquals(0, s.startIndexForStrength(1.0));
        assertEquals(7, s.startIndexForStrength(0.125));
        assertEquals(7, s.startIndexForStrength(0.01)); // int() truncates 7.92
        for (double bad : new double[]{-0.1, 1.5, Double.NaN}) {
            var e = assertThrows(IllegalArgumentException.class, () -> s.startIndexForStrength(bad));
            assertTrue(e.getMessage().contains("[0.0, 1.0]"), e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> s.startIndexForStrength(0.0));
        assertTrue(e.getMessage().contains("0 steps"), e.getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> s.step(8, new float[1], new float[1], new float[1]));
        assertThrows(IllegalArgumentException.class, () -> s.step(0, new float[2], new float[1], new float[2]));
        assertThrows(IllegalArgumentException.class,
                () -> new FlowMatchEulerScheduler(SchedulerConfig.withShift(3)).zImageSchedule(0, 16));
        assertEquals(0f, s.sigma(8));
    }

    @SuppressWarnings("unchecked")
    private static SchedulerConfig parse(String json) {
        return SchedulerConfig.from(new JsonConfig("test.json", (Map<String, Object>) Json.parse(json)));
    }
}

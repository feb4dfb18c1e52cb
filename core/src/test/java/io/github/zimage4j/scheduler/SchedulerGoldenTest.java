package io.github.zimage4j.scheduler;

import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every schedule and every recorded step under golden/scheduler, bit for bit (the README allows 1e-7; the
 * implementation reproduces the reference exactly, so the tests demand that).
 */
class SchedulerGoldenTest {

    @TestFactory
    Stream<DynamicTest> schedules() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : Golden.cases("scheduler")) {
            Map<String, Object> meta = Golden.meta(dir);
            assertFalse(list(meta, "schedules").isEmpty(), dir + "/meta.json lists no schedule");
            for (Object o : list(meta, "schedules")) {
                @SuppressWarnings("unchecked")
                Map<String, Object> entry = (Map<String, Object>) o;
                String name = dir.getFileName() + " " + entry.get("mode") + " N=" + entry.get("num_inference_steps");
                tests.add(DynamicTest.dynamicTest(name, () -> checkSchedule(dir, entry)));
            }
        }
        return tests.stream();
    }

    @TestFactory
    Stream<DynamicTest> steps() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : Golden.cases("scheduler")) {
            Map<String, Object> meta = Golden.meta(dir);
            if (!meta.containsKey("step_runs")) {
                continue; // a case without step runs records schedules only
            }
            for (Object o : list(meta, "step_runs")) {
                @SuppressWarnings("unchecked")
                Map<String, Object> run = (Map<String, Object>) o;
                Path file = dir.resolve((String) run.get("file"));
                int recorded;
                try (SafeTensors st = SafeTensors.open(file)) {
                    recorded = (int) st.names().stream().filter(n -> n.startsWith("model_output.")).count();
                }
                assertTrue(recorded > 0, file + " holds no model_output.i");
                for (int i = 0; i < recorded; i++) {
                    int step = i;
                    tests.add(DynamicTest.dynamicTest(dir.getFileName() + " " + file.getFileName() + " step " + i,
                            () -> checkStep(dir, run, file, step)));
                }
            }
        }
        return Golden.atLeastOne(tests, "scheduler case with step runs").stream();
    }

    private static void checkSchedule(Path dir, Map<String, Object> entry) throws IOException {
        SchedulerConfig config = SchedulerConfig.read(dir.resolve("config.json"));
        FlowMatchEulerScheduler scheduler = new FlowMatchEulerScheduler(config);
        int n = ((Number) entry.get("num_inference_steps")).intValue();
        int imageSeqLen = ((Number) entry.get("image_seq_len")).intValue();
        String mode = (String) entry.get("mode");
        assertEquals(((Number) entry.get("mu")).doubleValue(), config.mu(imageSeqLen), 0.0, "mu");

        Schedule s = switch (mode) {
            case "pipeline" -> {
                Compare.allClose("sigmas_input (torch.linspace)", floats(entry.get("sigmas_input")),
                        Linspace.torchFloat32(1f, 1.0 / n, n), 0, 0);
                yield scheduler.zImageSchedule(n, imageSeqLen);
            }
            case "default" -> scheduler.defaultSchedule(n, imageSeqLen);
            default -> throw new AssertionError("unknown mode " + mode);
        };
        assertEquals(entry.get("mu_used"), s.muUsed(), "mu_used");
        assertEquals(n, s.numSteps(), "steps");
        Compare.allClose("sigmas", floats(entry.get("sigmas")), s.sigmas(), 0, 0);
        Compare.allClose("timesteps", floats(entry.get("timesteps")), s.timesteps(), 0, 0);
        float[] modelT = new float[n];
        for (int i = 0; i < n; i++) {
            modelT[i] = s.modelTimestep(i);
        }
        Compare.allClose("model_timesteps", floats(entry.get("model_timesteps")), modelT, 0, 0);
        Compare.allClose("cfg_truncation_t_norms", floats(entry.get("cfg_truncation_t_norms")), modelT, 0, 0);
    }

    private static void checkStep(Path dir, Map<String, Object> run, Path file, int i) throws IOException {
        SchedulerConfig config = SchedulerConfig.read(dir.resolve("config.json"));
        int n = ((Number) run.get("num_inference_steps")).intValue();
        assertEquals("pipeline", run.get("mode"));
        // μ (from the image size) does not enter: these configs shift statically.
        assertTrue(!config.useDynamicShifting());
        Schedule s = new FlowMatchEulerScheduler(config).zImageSchedule(n, 16);
        @SuppressWarnings("unchecked")
        Map<String, Object> rec = (Map<String, Object>) ((List<?>) run.get("steps")).get(i);
        assertEquals(i, ((Number) rec.get("step_index")).intValue());
        assertEquals(((Number) rec.get("sigma")).floatValue(), s.sigma(i), 0f, "sigma");
        assertEquals(((Number) rec.get("sigma_next")).floatValue(), s.sigma(i + 1), 0f, "sigma_next");
        assertEquals(((Number) rec.get("timestep")).floatValue(), s.timestep(i), 0f, "timestep");
        try (SafeTensors st = SafeTensors.open(file)) {
            float[] sample = Golden.tensor(st, "sample." + i).data();
            float[] v = Golden.tensor(st, "model_output." + i).data();
            float[] out = new float[sample.length];
            s.step(i, sample, v, out);
            Compare.allClose("sample." + (i + 1), Golden.tensor(st, "sample." + (i + 1)).data(), out, 0, 0);
            // In place must give the same.
            s.step(i, sample, v, sample);
            Compare.allClose("sample." + (i + 1) + " in place", out, sample, 0, 0);
        }
    }

    static List<?> list(Map<String, Object> meta, String key) {
        Object o = meta.get(key);
        assertTrue(o instanceof List<?>, "meta." + key + " is not a list");
        return (List<?>) o;
    }

    /** A JSON list of Python floats that hold float32 values: the float casts are exact. */
    static float[] floats(Object jsonList) {
        List<?> l = (List<?>) jsonList;
        float[] out = new float[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) l.get(i)).floatValue();
        }
        return out;
    }
}

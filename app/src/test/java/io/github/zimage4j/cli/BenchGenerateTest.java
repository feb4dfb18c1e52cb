package io.github.zimage4j.cli;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.pipeline.TinyModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code bench --components generate} on the tiny model: every stage of both variants, as a table and as JSON. */
class BenchGenerateTest {

    @TempDir
    static Path model;

    @BeforeAll
    static void tinyModel() throws IOException {
        TinyModel.write(model, 5);
    }

    record Result(int code, String out, String err) {
    }

    static Result bench(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        String[] all = new String[args.length + 1];
        all[0] = "bench";
        System.arraycopy(args, 0, all, 1, args.length);
        int code = cl.execute(all);
        return new Result(code, out.toString(), err.toString());
    }

    private static final List<String> STAGES = List.of("load", "model-hash", "prompt", "weight-prep", "decode", "convert-8bit",
            "png", "other", "total");

    @Test
    @SuppressWarnings("unchecked")
    void jsonHasEveryStageOfBothVariants() {
        Result r = bench("--components", "generate", "--model", model.toString(), "--sizes", "32", "--backend", "java",
                "--variants", "turbo,base", "--steps", "base=3", "--json");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> json = (Map<String, Object>) Json.parse(r.out());
        for (String variant : List.of("turbo", "base")) {
            for (String stage : STAGES) {
                Map<String, Object> row = (Map<String, Object>) json.get("generate-" + variant + "-" + stage);
                assertTrue(row != null, variant + " " + stage + " in " + json.keySet());
                Map<String, Object> cell = (Map<String, Object>) row.get("32x32");
                double seconds = ((Number) cell.get("seconds")).doubleValue();
                assertTrue(seconds >= 0 && Double.isFinite(seconds), variant + " " + stage + ": " + seconds);
            }
            long peak = ((Number) json.get("generate_" + variant + "_peak_rss_bytes")).longValue();
            assertTrue(peak > 0, "peak RSS of " + variant + ": " + peak);
        }
        // Turbo runs its 8 steps, base the 3 asked for (of its 50), each step guided with the negative prompt.
        for (int i = 1; i <= 8; i++) {
            assertTrue(json.containsKey("generate-turbo-step-" + i), "turbo step " + i);
        }
        assertFalse(json.containsKey("generate-turbo-step-9"));
        for (int i = 1; i <= 3; i++) {
            Map<String, Object> cell = (Map<String, Object>) ((Map<String, Object>) json.get("generate-base-step-" + i)).get("32x32");
            assertTrue(((String) cell.get("note")).startsWith("cond + uncond in one transformer call"), cell.toString());
        }
        assertFalse(json.containsKey("generate-base-step-4"));
        assertFalse(json.containsKey("generate-turbo-total-extrapolated"), "a full run is not extrapolated");
        Map<String, Object> extrapolated = (Map<String, Object>) ((Map<String, Object>) json.get("generate-base-total-extrapolated")).get("32x32");
        assertTrue(((String) extrapolated.get("note")).startsWith("EXTRAPOLATED to 50 steps, not measured"), extrapolated.toString());
        double total = ((Number) ((Map<String, Object>) ((Map<String, Object>) json.get("generate-base-total")).get("32x32")).get("seconds")).doubleValue();
        assertTrue(((Number) extrapolated.get("seconds")).doubleValue() > total, "47 more steps take time");
        assertInstanceOf(String.class, json.get("backend"));
    }

    @Test
    void tableLabelsShortRunsAndWeightPreparation() {
        System.setProperty(PreparingBackendProvider.ENABLE, "true");
        Result r;
        try {
            r = bench("--components", "generate", "--model", model.toString(), "--sizes", "32", "--backend",
                    PreparingBackendProvider.NAME, "--variants", "turbo", "--steps", "2");
        } finally {
            System.clearProperty(PreparingBackendProvider.ENABLE);
        }
        assertEquals(0, r.code(), r.err());
        String table = r.out();
        for (String stage : STAGES) {
            assertTrue(table.contains("generate-turbo-" + stage + " "), stage + " in\n" + table);
        }
        assertTrue(table.contains("generate-turbo-step-1 ") && table.contains("generate-turbo-step-2 "), table);
        assertTrue(table.contains("SHORT RUN: 2 of 8 steps"), table);
        assertTrue(table.contains("EXTRAPOLATED to 8 steps, not measured"), table);
        assertTrue(table.contains(PreparingBackendProvider.WHAT + ", 3 weights, 2.00 GB, during encoding prompt (inside that stage's time)"), table);
        assertTrue(table.contains("generate_turbo_peak_rss_bytes: "), table);
        assertFalse(table.contains("generate-base-"), "only the variants asked for run");
    }

    @Test
    void badStepsAndVariantsFailBeforeAnyWork() {
        Result r = bench("--components", "generate", "--model", model.toString(), "--variants", "turbo", "--steps", "base=2");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--steps: 'base=2' names a variant that --variants [turbo] does not run"), r.err());
        r = bench("--components", "generate", "--model", model.toString(), "--variants", "turbo,fast");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--variants: unknown variant 'fast' (turbo or base)"), r.err());
        r = bench("--components", "generate", "--model", model.toString(), "--steps", "0");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--steps: 0 is not at least 1"), r.err());
    }

    @Test
    void savesEachVariantsImageAndRefusesToOverwriteBeforeAnyWork(@TempDir Path images) throws IOException {
        Result r = bench("--components", "generate", "--model", model.toString(), "--sizes", "32", "--backend", "java",
                "--variants", "turbo", "--steps", "1", "--save-images", images.toString());
        assertEquals(0, r.code(), r.err());
        Path png = images.resolve("turbo-32.png");
        java.awt.image.BufferedImage img = javax.imageio.ImageIO.read(png.toFile());
        assertEquals(32, img.getWidth());
        assertEquals(32, img.getHeight());
        long written = java.nio.file.Files.getLastModifiedTime(png).toMillis();

        r = bench("--components", "generate", "--model", model.toString(), "--sizes", "32", "--backend", "java",
                "--variants", "turbo", "--steps", "1", "--save-images", images.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--save-images: " + png + " exists"), r.err());
        assertFalse(r.err().contains("generate Z-Image"), "refused before generating: " + r.err());
        assertEquals(written, java.nio.file.Files.getLastModifiedTime(png).toMillis(), "the first image is untouched");

        r = bench("--components", "generate", "--model", model.toString(), "--save-images", images.resolve("absent").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("is not a folder"), r.err());
        r = bench("--components", "vae", "--save-images", images.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("only the generate component makes images"), r.err());
    }
}

package io.github.zimage4j.cli;

import io.github.zimage4j.batch.Manifest;
import io.github.zimage4j.batch.ManifestRecord;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.pipeline.TinyModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code zimage4j batch} on the tiny model: a run, a resumed run, and a bad file refused before any work. */
class BatchCommandTest {

    @TempDir
    static Path model;

    @TempDir
    Path dir;

    @BeforeAll
    static void tinyModel() throws IOException {
        TinyModel.write(model, 3);
    }

    record Result(int code, String err, String out) {
    }

    /** Runs the command line, capturing picocli's streams and the command's System.err. */
    static synchronized Result run(String... args) {
        PrintStream saved = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            CommandLine cl = Main.commandLine();
            StringWriter err = new StringWriter();
            StringWriter out = new StringWriter();
            cl.setErr(new PrintWriter(err, true));
            cl.setOut(new PrintWriter(out, true));
            int code = cl.execute(args);
            return new Result(code, err + captured.toString(StandardCharsets.UTF_8), out.toString());
        } finally {
            System.setErr(saved);
        }
    }

    @Test
    void makesEveryRequestThenResumesWithNothingLeft() throws IOException {
        Path jobs = Files.writeString(dir.resolve("jobs.jsonl"), """
                {"defaults": {"width": 32, "height": 48, "steps": 2}}
                {"id": "fox", "prompt": "a red fox", "seed": 7}
                {"id": "fox 2", "prompt": "a red fox", "seed": 8}
                {"id": "狐狸", "prompt": "一只在雪地里的红狐狸"}
                """);
        Path out = dir.resolve("out");
        Result r = run("batch", jobs.toString(), "--out", out.toString(), "--model", model.toString(), "--backend", "java");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("3 requests: 0 done, 3 to make"), r.err());
        assertTrue(r.err().contains("[3/3]"), r.err());
        assertTrue(r.err().contains("images/hour"), r.err());
        List<ManifestRecord> records = Manifest.readAll(out.resolve(Manifest.FILE_NAME));
        assertEquals(3, records.size());
        for (ManifestRecord rec : records) {
            assertTrue(rec.isDone());
            assertEquals("java", rec.backend());
            assertEquals(rec.seed(), PngFiles.readMetadata(out.resolve(rec.file())).seed());
        }
        assertEquals(7L, PngFiles.readMetadata(out.resolve("fox.png")).seed());

        Result again = run("batch", jobs.toString(), "--out", out.toString(), "--model", model.toString());
        assertEquals(0, again.code(), again.err());
        assertTrue(again.err().contains("3 requests: 3 done, 0 to make"), again.err());
        assertEquals(3, Manifest.readAll(out.resolve(Manifest.FILE_NAME)).size());
    }

    @Test
    void aBadJobFileIsRefusedWithLineNumbersBeforeAnything() throws IOException {
        Path jobs = Files.writeString(dir.resolve("jobs.jsonl"), """
                {"id": "a", "prompt": "ok", "width": 32, "height": 32}
                {"id": "b", "prompt": "x", "negativ_prompt": "y"}
                {"id": "a", "prompt": "again"}
                """);
        Path out = dir.resolve("out");
        Result r = run("batch", jobs.toString(), "--out", out.toString(), "--model", dir.resolve("no-model").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("2 problems, nothing was run"), r.err());
        assertTrue(r.err().contains("line 2: unknown field \"negativ_prompt\"; did you mean \"negative_prompt\"?"), r.err());
        assertTrue(r.err().contains("line 3: id \"a\" is already used on line 1"), r.err());
        assertFalse(Files.exists(out), "nothing created");
    }

    @Test
    void helpShowsTheSharedModelOptions() {
        Result r = run("batch", "--help");
        assertEquals(0, r.code());
        for (String option : new String[]{"--out", "--retry-failed", "--model", "--transformer", "--backend", "--threads"}) {
            assertTrue(r.out().contains(option), option + " in\n" + r.out());
        }
        assertEquals(2, run("batch", "x.jsonl").code(), "--out is required");
    }
}

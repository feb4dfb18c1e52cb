package io.github.zimage4j.batch;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JobFileTest {

    @Test
    void defaultsApplyUnlessARequestSetsTheField() throws IOException {
        JobFile jobs = JobFile.parse("jobs.jsonl", """
                {"defaults": {"width": 64, "height": 64, "steps": 2, "negative_prompt": "blur"}}

                {"id": "a", "prompt": "one"}
                {"id": 7, "prompt": "two", "width": 128, "seed": 3, "negative_prompt": null}
                """);
        List<JobFile.Item> items = jobs.items();
        assertEquals(2, items.size());
        JobFile.Item a = items.get(0);
        assertEquals(3, a.line());
        assertEquals("a", a.id());
        assertEquals(64, a.request().width());
        assertEquals(2, a.request().steps());
        assertEquals("blur", a.request().negativePrompt());
        assertEquals(JobFile.seedFor("a"), a.request().seed());
        JobFile.Item b = items.get(1);
        assertEquals("7", b.id());
        assertEquals(4, b.line());
        assertEquals(128, b.request().width());
        assertEquals(3L, b.request().seed());
        assertEquals("", b.request().negativePrompt());
    }

    @Test
    void aMissingSeedIsDerivedFromTheId() {
        assertEquals(JobFile.seedFor("fox-1"), JobFile.seedFor("fox-1"));
        assertNotEquals(JobFile.seedFor("fox-1"), JobFile.seedFor("fox-2"));
        assertTrue(JobFile.seedFor("x") >= 0 && JobFile.seedFor("x") <= 0xFFFFFFFFL);
    }

    @Test
    void everyProblemIsReportedWithItsLineBeforeAnythingRuns() {
        JobFile.InvalidJobFileException e = assertThrows(JobFile.InvalidJobFileException.class, () -> JobFile.parse("jobs.jsonl", """
                {"id": "a", "prompt": "ok"}
                {"id": "b", "prompt": "x", "promt": "y"}
                {"id": "c", "prompt": "x"
                {"prompt": "no id"}
                {"id": "a", "prompt": "again"}
                {"id": "d", "prompt": "x", "width": 100}
                {"defaults": {"steps": 2}}
                [1, 2]
                {"id": "e", "prompt": "x", "foo": 1, "bar": 2}
                """));
        List<String> p = e.problems();
        assertEquals(8, p.size(), String.join("\n", p));
        assertTrue(p.get(0).startsWith("line 2: unknown field \"promt\""), p.get(0));
        assertTrue(p.get(1).startsWith("line 3: not valid JSON"), p.get(1));
        assertTrue(p.get(2).startsWith("line 4: no \"id\""), p.get(2));
        assertEquals("line 5: id \"a\" is already used on line 1", p.get(3));
        assertTrue(p.get(4).startsWith("line 6: width and height must be positive multiples of 16"), p.get(4));
        assertTrue(p.get(5).startsWith("line 7: \"defaults\" must come first"), p.get(5));
        assertTrue(p.get(6).startsWith("line 8: expected a JSON object"), p.get(6));
        assertTrue(p.get(7).startsWith("line 9: unknown fields [foo, bar]"), p.get(7));
        assertTrue(e.getMessage().startsWith("jobs.jsonl: 8 problems, nothing was run:"), e.getMessage());
    }

    @Test
    void badDefaultsAreBlamedOnTheDefaults() {
        JobFile.InvalidJobFileException e = assertThrows(JobFile.InvalidJobFileException.class, () -> JobFile.parse("j", """
                {"defaults": {"steps": "two", "colour": 1}}
                {"id": "a", "prompt": "x"}
                """));
        assertTrue(e.problems().get(0).startsWith("line 1: unknown field [colour] in the defaults"), e.problems().toString());
        assertTrue(e.problems().get(1).startsWith("line 2: (from the defaults) \"steps\" must be a whole number"), e.problems().toString());
    }

    @Test
    void anEmptyFileIsAnError() {
        assertThrows(JobFile.InvalidJobFileException.class, () -> JobFile.parse("j", "\n\n"));
    }

    @Test
    void fileNamesAreSafeAndDistinct() {
        assertEquals("fox-1.png", JobFile.fileName("fox-1"));
        assertEquals("A_b.9.png", JobFile.fileName("A_b.9"));
        String slash = JobFile.fileName("a/b");
        String query = JobFile.fileName("a?b");
        assertTrue(slash.matches("a_b-[0-9a-f]{8}\\.png"), slash);
        assertNotEquals(slash, query);
        assertTrue(JobFile.fileName("../etc/passwd").matches("[A-Za-z0-9_][A-Za-z0-9._-]*\\.png"));
        assertTrue(JobFile.fileName(".hidden").startsWith("_hidden-"));
        assertTrue(JobFile.fileName("-rf").startsWith("_rf-"));
        assertTrue(JobFile.fileName("狐狸").matches("__-[0-9a-f]{8}\\.png"));
        assertTrue(JobFile.fileName("x".repeat(300)).length() <= 120 + 9 + 4);
    }

    @Test
    void idsThatWouldShareAFileAreRejected() {
        JobFile.InvalidJobFileException e = assertThrows(JobFile.InvalidJobFileException.class, () -> JobFile.parse("j", """
                {"id": "Fox", "prompt": "x"}
                {"id": "fox", "prompt": "y"}
                """));
        assertEquals(List.of("line 2: id \"fox\" and id \"Fox\" (line 1) would both be written to Fox.png (file names ignore case); rename one"),
                e.problems());
    }

    @Test
    void imagePathsAreTakenFromTheJobFilesFolderAndCheckedFirst(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws IOException {
        java.nio.file.Files.createDirectories(dir.resolve("in"));
        io.github.zimage4j.image.PngFiles.write(dir.resolve("in/start.png"), io.github.zimage4j.image.UInt8Image.blank(40, 24, 3),
                java.util.Map.of());
        java.nio.file.Path jobs = java.nio.file.Files.writeString(dir.resolve("jobs.jsonl"), """
                {"id": "i2i", "prompt": "x", "init_image": "in/start.png", "strength": 0.5, "mask": "in/start.png"}
                {"id": "ctl", "prompt": "x", "width": 32, "height": 32, "control_image": "in/start.png", "control_type": "canny", "control_scale": 0.5}
                """);
        JobFile file = JobFile.read(jobs);
        io.github.zimage4j.pipeline.GenerationRequest i2i = file.items().get(0).request();
        assertEquals(dir.resolve("in/start.png").toString(), file.items().get(0).fields().get("init_image"));
        assertEquals(40, i2i.initImage().width());
        assertEquals(40, i2i.mask().width());
        assertEquals(0.5, i2i.strength());
        io.github.zimage4j.pipeline.GenerationRequest ctl = file.items().get(1).request();
        assertEquals(io.github.zimage4j.controlnet.ControlType.CANNY, ctl.controlType());
        assertEquals(0.5, ctl.controlScale());
        assertEquals(24, ctl.controlImage().height());

        java.nio.file.Path bad = java.nio.file.Files.writeString(dir.resolve("bad.jsonl"), """
                {"id": "a", "prompt": "x", "init_image": "in/missing.png"}
                {"id": "b", "prompt": "x", "control_image": "in/start.png", "control_type": "sketch"}
                """);
        JobFile.InvalidJobFileException e = assertThrows(JobFile.InvalidJobFileException.class, () -> JobFile.read(bad));
        assertTrue(e.problems().get(0).startsWith("line 1: \"init_image\": cannot read " + dir.resolve("in/missing.png")), e.problems().toString());
        assertTrue(e.problems().get(1).startsWith("line 2: unknown control type 'sketch'"), e.problems().toString());
    }

    @Test
    void loraPathsAreTakenFromTheJobFilesFolderToo(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws IOException {
        java.nio.file.Files.createDirectories(dir.resolve("loras"));
        java.nio.file.Files.writeString(dir.resolve("loras/style.safetensors"), "read when generating");
        java.nio.file.Path jobs = java.nio.file.Files.writeString(dir.resolve("jobs.jsonl"), """
                {"defaults": {"loras": [{"path": "loras/style.safetensors", "strength": 0.7}]}}
                {"id": "a", "prompt": "x"}
                {"id": "b", "prompt": "x", "loras": []}
                {"id": "c", "prompt": "x", "loras": [{"path": "loras/missing.safetensors"}]}
                """);
        JobFile.InvalidJobFileException e = assertThrows(JobFile.InvalidJobFileException.class, () -> JobFile.read(jobs));
        assertEquals(1, e.problems().size(), e.problems().toString());
        assertTrue(e.problems().get(0).startsWith("line 4: \"loras[0].path\": " + dir.resolve("loras/missing.safetensors")), e.problems().toString());
        java.nio.file.Files.writeString(jobs, java.nio.file.Files.readString(jobs).replace("missing", "style"));
        JobFile file = JobFile.read(jobs);
        assertEquals(java.util.List.of(new io.github.zimage4j.lora.LoraSpec(dir.resolve("loras/style.safetensors"), 0.7)),
                file.items().get(0).request().loras());
        assertEquals(java.util.List.of(), file.items().get(1).request().loras());
        assertEquals(1.0, file.items().get(2).request().loras().get(0).strength());
    }

    @Test
    void rowsWorkLikeLines() throws IOException {
        JobFile jobs = JobFile.of("t.parquet", List.of(Map.of("defaults", Map.of("steps", 3L)),
                Map.of("id", "r", "prompt", "x", "width", 32L, "height", 32L)));
        assertEquals(3, jobs.items().get(0).request().steps());
        assertEquals(2, jobs.items().get(0).line());
        JobFile.InvalidJobFileException e = assertThrows(JobFile.InvalidJobFileException.class,
                () -> JobFile.of("t.parquet", List.of(Map.of("id", "r", "prompt", 1L))));
        assertTrue(e.problems().get(0).startsWith("row 1: \"prompt\" must be a string"), e.problems().toString());
    }
}

package io.github.zimage4j.batch;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.pipeline.GenerationRequest;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RequestJsonTest {

    @SuppressWarnings("unchecked")
    private static Map<String, Object> json(String text) {
        return (Map<String, Object>) Json.parse(text);
    }

    @Test
    void everyFieldMapsToTheRequest() {
        GenerationRequest r = RequestJson.toRequest(json("""
                {"prompt": "a fox", "negative_prompt": "blur", "width": 512, "height": 768.0, "steps": 9, "guidance": 3.5,
                 "cfg_normalization": 1, "cfg_truncation": 0.9, "seed": 12345678901, "max_sequence_length": 77}"""));
        assertEquals("a fox", r.prompt());
        assertEquals("blur", r.negativePrompt());
        assertEquals(512, r.width());
        assertEquals(768, r.height());
        assertEquals(9, r.steps());
        assertEquals(3.5, r.guidance());
        assertEquals(1.0, r.cfgNormalization());
        assertEquals(0.9, r.cfgTruncation());
        assertEquals(12345678901L, r.seed());
        assertEquals(77, r.maxSequenceLength());
        assertEquals(1, r.count());
    }

    @Test
    void absentAndNullFieldsTakeTheDefaults() {
        GenerationRequest r = RequestJson.toRequest(json("{\"prompt\": \"\", \"steps\": null}"));
        assertEquals("", r.prompt());
        assertEquals("", r.negativePrompt());
        assertEquals(1024, r.width());
        assertEquals(1024, r.height());
        assertNull(r.steps());
        assertNull(r.guidance());
        assertNull(r.seed());
        assertEquals(0.0, r.cfgNormalization());
        assertEquals(1.0, r.cfgTruncation());
        assertEquals(512, r.maxSequenceLength());
    }

    @Test
    void lorasNameFilesWithStrengths(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws java.io.IOException {
        java.nio.file.Path style = java.nio.file.Files.writeString(dir.resolve("style.safetensors"), "read when generating");
        GenerationRequest r = RequestJson.toRequest(json("{\"prompt\": \"x\", \"loras\": [{\"path\": \"style.safetensors\", \"strength\": 0.8},"
                + " {\"path\": \"style.safetensors\"}]}"), dir::resolve);
        assertEquals(java.util.List.of(new io.github.zimage4j.lora.LoraSpec(style, 0.8), new io.github.zimage4j.lora.LoraSpec(style, 1.0)),
                r.loras());
        RequestJson.InvalidRequestException missing = assertThrows(RequestJson.InvalidRequestException.class, () -> RequestJson.toRequest(
                json("{\"prompt\": \"x\", \"loras\": [{\"path\": \"gone.safetensors\"}]}"), dir::resolve));
        assertEquals("loras[0]", missing.field());
        assertTrue(missing.getMessage().contains("gone.safetensors") && missing.getMessage().contains("not a file"), missing.getMessage());
        assertTrue(error("{\"prompt\": \"x\", \"loras\": \"style.safetensors\"}").contains("\"loras\" must be an array"));
        assertTrue(error("{\"prompt\": \"x\", \"loras\": [{\"path\": \"a\", \"weight\": 1}]}").contains("unknown field \"weight\""));
        assertTrue(error("{\"prompt\": \"x\", \"loras\": [{\"path\": \"a\", \"strength\": \"max\"}]}").contains("\"loras[0].strength\" must be a number"));
    }

    private static String error(String text) {
        return assertThrows(RequestJson.InvalidRequestException.class, () -> RequestJson.toRequest(json(text))).getMessage();
    }

    @Test
    void errorsNameTheFieldAndWhatWasFound() {
        assertTrue(error("{\"negative_prompt\": \"x\"}").contains("\"prompt\" is required"));
        assertTrue(error("{\"prompt\": 3}").contains("\"prompt\" must be a string, got 3"));
        assertTrue(error("{\"prompt\": \"x\", \"width\": \"512\"}").contains("\"width\" must be a whole number, got the string \"512\""));
        assertTrue(error("{\"prompt\": \"x\", \"steps\": 8.5}").contains("\"steps\" must be a whole number"));
        assertTrue(error("{\"prompt\": \"x\", \"steps\": 0}").contains("steps must be at least 1"));
        assertTrue(error("{\"prompt\": \"x\", \"width\": 500}").contains("nearest valid: 496x1024"));
        assertTrue(error("{\"prompt\": \"x\", \"guidance\": -1}").contains("guidance"));
        assertTrue(error("{\"prompt\": \"x\", \"seed\": 1e30}").contains("\"seed\" must be a whole number"));
        assertTrue(error("{\"prompt\": \"x\", \"guidance\": [1]}").contains("got an array"));
    }

    @Test
    void unknownFieldsAreRejectedWithASuggestion() {
        RequestJson.InvalidRequestException e = assertThrows(RequestJson.InvalidRequestException.class,
                () -> RequestJson.toRequest(json("{\"prompt\": \"x\", \"negativePrompt\": \"y\"}")));
        assertEquals("negativePrompt", e.field());
        assertTrue(e.getMessage().contains("did you mean \"negative_prompt\""), e.getMessage());
        assertTrue(error("{\"prompt\": \"x\", \"stpes\": 3}").contains("did you mean \"steps\""));
    }
}

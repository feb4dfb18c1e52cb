package io.github.zimage4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code zimage4j info FILE} on the golden GGUF and ComfyUI files, and on files it must refuse. */
class InfoCommandTest {

    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
    }

    static Path golden() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.isRegularFile(d.resolve("mvnw"))) {
                return d.resolve("../shared/golden").normalize();
            }
        }
        throw new IllegalStateException("no project root");
    }

    static synchronized Result info(String file) {
        CommandLine cl = Main.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            int code = cl.execute("info", file);
            return new Result(code, buf.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(old);
        }
    }

    @Test
    void describesAGgufTransformer() throws IOException {
        // Alone in a folder, as downloaded: no config.json beside it, so the config comes from the shapes.
        Path file = Files.copy(golden().resolve("gguf/case-model-q8_0/z_image_tiny-Q8_0.gguf"), tmp.resolve("z.gguf"));
        Result r = info(file.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("GGUF") && r.out().contains("transformer, original/ComfyUI layout")
                && r.out().contains("Q8_0 (") && r.out().contains("F32 (") && r.out().contains("dim=64")
                && r.out().contains("derived from the tensor shapes"), r.out());
    }

    @Test
    void describesAPrefixedComfyFile() {
        Result r = info(golden().resolve("single_file/case-transformer-comfy-prefixed-bf16/z_image_tiny_bf16.safetensors").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("safetensors") && r.out().contains("original/ComfyUI") && r.out().contains("BF16 ("), r.out());
    }

    @Test
    void refusesWhatIsNoCheckpointOrNoKnownLayout() throws IOException {
        Path junk = Files.writeString(tmp.resolve("notes.gguf"), "hello, not a model");
        Result r = info(junk.toString());
        assertTrue(r.code() != 0 && r.err().contains("not a checkpoint"), r.err());

        Path odd = tmp.resolve("odd.safetensors");
        String header = "{\"mystery.block.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.allocate(8 + h.length + 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        bb.putLong(h.length).put(h).putFloat(1f);
        Files.write(odd, bb.array());
        r = info(odd.toString());
        assertTrue(r.code() != 0 && r.err().contains("mystery.block.weight"), r.err());
    }
}

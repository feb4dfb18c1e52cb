package io.github.zimage4j.cli;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.Gguf;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The quantize command: a golden transformer to GGUF, and bad requests refused before any work. */
class QuantizeCommandTest {

    @TempDir
    Path tmp;

    record Result(int code, String err) {
    }

    static Result run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        return new Result(cl.execute(args), err.toString());
    }

    /** {@code --type int8}: a Q8_0 file whose rows share one scale, marked in its metadata. */
    @Test
    void int8WritesRowScaledQ8_0() throws IOException {
        Path in = Golden.fixture("pipeline/case-components/transformer");
        Path out = tmp.resolve("t-int8.gguf");
        Result r = run("quantize", in.toString(), out.toString(), "--type", "int8");
        assertEquals(0, r.code(), r.err());
        try (Gguf g = Gguf.open(out)) {
            assertEquals(DType.Q8_0, g.get("layers.0.attention.qkv.weight").dtype());
            assertEquals("per row", g.metadataString("zimage4j.q8_0_scales"));
        }
    }

    @Test
    void writesAGgufThatOurReaderOpens() throws IOException {
        Path in = Golden.fixture("pipeline/case-components/transformer");
        Path out = tmp.resolve("t-q5_1.gguf");
        Result r = run("quantize", in.toString(), out.toString(), "--type", "Q5_1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("wrote " + out), r.err());
        try (Gguf g = Gguf.open(out)) {
            assertEquals(DType.Q5_1, g.get("layers.0.attention.qkv.weight").dtype());
        }
        Result again = run("quantize", in.toString(), out.toString(), "--type", "q8_0");
        assertEquals(1, again.code());
        assertTrue(again.err().contains("exists; pass --force"), again.err());
        assertEquals(0, run("quantize", in.toString(), out.toString(), "--type", "q8_0", "--force").code());

        // The quantized file benchmarks like any transformer (config derived from its shapes).
        java.io.PrintStream stdout = System.out;
        java.io.ByteArrayOutputStream json = new java.io.ByteArrayOutputStream();
        Result bench;
        try {
            System.setOut(new java.io.PrintStream(json, true, java.nio.charset.StandardCharsets.UTF_8));
            bench = run("bench", "--components", "transformer", "--transformer", out.toString(), "--sizes", "64",
                    "--caption-tokens", "8", "--backend", "java", "--json");
        } finally {
            System.setOut(stdout);
        }
        assertEquals(0, bench.code(), bench.err());
        String report = json.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(report.contains("transformer-resident") && report.contains("Q8_0"), report);
    }

    @Test
    void badRequestsFailBeforeWriting() {
        Path in = Golden.fixture("pipeline/case-components/transformer");
        Path out = tmp.resolve("x.gguf");
        Result type = run("quantize", in.toString(), out.toString(), "--type", "q3_k");
        assertEquals(1, type.code());
        assertTrue(type.err().contains("--type: 'q3_k'"), type.err());
        Result missing = run("quantize", tmp.resolve("nope").toString(), out.toString(), "--type", "q8_0");
        assertTrue(missing.err().contains("does not exist"), missing.err());
        Result vae = run("quantize", Golden.fixture("pipeline/case-components/vae").toString(), out.toString(), "--type", "q8_0");
        assertEquals(1, vae.code());
        assertTrue(vae.err().contains("not a Z-Image transformer"), vae.err());
        assertFalse(Files.exists(out));
    }
}

package io.github.zimage4j.cli;

import io.github.zimage4j.hub.FakeHub;
import io.github.zimage4j.pipeline.TinyModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pull command end to end against a local imitation of the hub; bad options fail before any request. */
class PullCommandTest {

    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter err = new StringWriter();
        StringWriter out = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        cl.setOut(new PrintWriter(out, true));
        int code = cl.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void pullsAModelThatGenerateThenFinds() throws IOException {
        Path model = tmp.resolve("tiny");
        TinyModel.write(model, 3);
        try (FakeHub hub = new FakeHub()) {
            String commit = hub.addRepo("acme/zimage-tiny", model);
            Path cache = tmp.resolve("cache");
            Result r = run("pull", "--endpoint", hub.endpoint().toString(), "--cache-dir", cache.toString(), "acme/zimage-tiny");
            assertEquals(0, r.code(), r.err());
            Path snapshot = cache.resolve("models--acme--zimage-tiny/snapshots").resolve(commit);
            assertEquals(snapshot.toString(), r.out().trim());
            assertTrue(Files.isRegularFile(snapshot.resolve("transformer/config.json")));
            assertTrue(r.err().contains("transformer/diffusion_pytorch_model.safetensors: done"), r.err());
            Result info = run("info", snapshot.toString());
            assertEquals(0, info.code(), info.err());
        }
    }

    @Test
    void badOptionsFailBeforeAnyRequest() {
        Result id = run("pull", "--endpoint", "http://127.0.0.1:9", "not-a-repo");
        assertEquals(1, id.code());
        assertTrue(id.err().contains("ORG/NAME"), id.err());
        Result source = run("pull", "--source", "github", "a/b");
        assertEquals(1, source.code());
        assertTrue(source.err().contains("--source: 'github'"), source.err());
    }
}

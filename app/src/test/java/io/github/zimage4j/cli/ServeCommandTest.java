package io.github.zimage4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code zimage4j serve} refuses bad setups before it listens or loads anything. */
class ServeCommandTest {

    @TempDir
    Path dir;

    static GenerateCommandTest.Result run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        return new GenerateCommandTest.Result(cl.execute(args), err.toString());
    }

    @Test
    void aMissingModelFailsBeforeServing() {
        GenerateCommandTest.Result r = run("serve", "--model", dir.resolve("nothing").toString(), "--port", "0",
                "--output", dir.resolve("out").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("nothing"), r.err());
        assertTrue(Files.notExists(dir.resolve("out")));
    }

    @Test
    void anOpenInterfaceNeedsAnApiKey() throws Exception {
        Path model = dir.resolve("tiny");
        io.github.zimage4j.pipeline.TinyModel.write(model, 1);
        GenerateCommandTest.Result r = run("serve", "--model", model.toString(), "--host", "0.0.0.0", "--port", "0",
                "--output", dir.resolve("out").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("API key"), r.err());
    }

    @Test
    void helpListsTheApis() {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        assertEquals(0, cl.execute("serve", "--help"));
        assertTrue(out.toString().contains("/v1/images/generations") && out.toString().contains("--api-key"), out.toString());
    }
}

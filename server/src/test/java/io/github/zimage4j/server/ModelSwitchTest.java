package io.github.zimage4j.server;

import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.TinyModel;
import io.github.zimage4j.pipeline.ZImagePipeline;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One model is loaded; another configured one is loaded only when asked for explicitly, between jobs. */
class ModelSwitchTest {

    @TempDir
    Path root;

    @Test
    void switchingIsExplicitAndQueued() throws Exception {
        Path second = root.resolve("second");
        TinyModel.write(second, 9);
        Map<String, Path> models = Map.of("first", TestServer.tinyModel(), "second", second);
        ModelHost host = new ModelHost(List.of("first", "second"), name -> ZImagePipeline.load(
                ModelFiles.resolve(models.get(name).toString(), ModelFiles.Overrides.none()), new ZImagePipeline.Options("java", null)));
        try (TestServer s = new TestServer(root, null, Limits.defaults(), 4, host).ready()) {
            HttpResponse<String> wrong = s.post("/api/jobs", "{\"prompt\":\"x\",\"model\":\"second\",\"width\":16,\"height\":16}");
            assertEquals(400, wrong.statusCode());
            assertTrue(TestServer.error(wrong).get("message").toString().contains("POST /api/model"), wrong.body());
            assertEquals(400, s.post("/v1/images/generations", "{\"prompt\":\"x\",\"model\":\"second\",\"size\":\"16x16\"}").statusCode());
            assertEquals("model", TestServer.error(s.post("/api/model", "{\"model\":\"/etc/passwd\"}")).get("param"));

            String before = (String) TestServer.json(s.post("/api/jobs", "{\"prompt\":\"x\",\"width\":16,\"height\":16,\"steps\":1}")).get("id");
            assertEquals(202, s.post("/api/model", "{\"model\":\"second\"}").statusCode());
            s.server.queue().get(before).awaitDone();
            assertEquals(Job.Status.SUCCEEDED, s.server.queue().get(before).status(), "the job queued first ran on the first model");
            long deadline = System.currentTimeMillis() + 60_000;
            while (!("second".equals(TestServer.json(s.get("/health")).get("model")) && s.get("/health").statusCode() == 200)) {
                assertTrue(System.currentTimeMillis() < deadline, "switched within 60 s");
                Thread.sleep(20);
            }
            HttpResponse<String> after = s.post("/api/jobs", "{\"prompt\":\"x\",\"model\":\"second\",\"width\":16,\"height\":16,\"steps\":1}");
            assertEquals(202, after.statusCode(), after.body());
            Job job = s.server.queue().get((String) TestServer.json(after).get("id"));
            job.awaitDone();
            assertEquals(Job.Status.SUCCEEDED, job.status());
            assertEquals("second", TestServer.json(s.get("/api/info")).get("model"));
        }
    }
}

package io.github.zimage4j.server;

import io.github.zimage4j.image.GenerationMetadata;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.io.Json;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The OpenAI images API and the A1111 txt2img API with the exact request shapes their clients send (the
 * OpenAI SDKs' JSON, the A1111 web UI's full txt2img payload), answered from the tiny model.
 */
class CompatApiTest extends OnTinyServer {

    static GenerationMetadata metadata(byte[] png) throws Exception {
        Path f = Files.createTempFile(root, "img", ".png");
        Files.write(f, png);
        return PngFiles.readMetadata(f);
    }

    @Test
    @SuppressWarnings("unchecked")
    void openAiB64JsonWithZImageExtensions() throws Exception {
        // What openai-python's client.images.generate(model=..., prompt=..., n=2, size=..., response_format="b64_json",
        // extra_body={...}) puts on the wire.
        HttpResponse<String> r = s.post("/v1/images/generations", """
                {"model":"dall-e-2","prompt":"A cute baby sea otter","n":2,"size":"64x48","response_format":"b64_json",
                 "user":"user-1234","seed":11,"steps":2,"negative_prompt":"blurry","guidance":1.5}""");
        assertEquals(200, r.statusCode(), r.body());
        Map<String, Object> body = TestServer.json(r);
        assertInstanceOf(Long.class, body.get("created"));
        List<Map<String, Object>> data = (List<Map<String, Object>>) body.get("data");
        assertEquals(2, data.size());
        for (int i = 0; i < 2; i++) {
            byte[] png = Base64.getDecoder().decode((String) data.get(i).get("b64_json"));
            BufferedImage img = TestServer.png(png);
            assertEquals(64, img.getWidth());
            assertEquals(48, img.getHeight());
            GenerationMetadata meta = metadata(png);
            assertEquals(11 + i, meta.seed());
            assertEquals("A cute baby sea otter", meta.prompt());
            assertEquals("blurry", meta.negativePrompt());
            assertEquals(2, meta.steps());
            assertEquals(1.5, meta.guidanceScale());
            assertEquals(11L + i, data.get(i).get("seed"));
            assertNull(data.get(i).get("url"));
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void openAiUrlServesTheFileFromTheOutputFolder() throws Exception {
        HttpResponse<String> r = s.post("/v1/images/generations", """
                {"prompt":"a lighthouse","size":"32x32","response_format":"url","steps":1}""");
        assertEquals(200, r.statusCode(), r.body());
        String url = (String) ((List<Map<String, Object>>) TestServer.json(r).get("data")).get(0).get("url");
        assertTrue(url.startsWith(s.server.uri() + "/outputs/"), url);
        HttpResponse<byte[]> img = s.client.send(s.request(url.substring(s.server.uri().toString().length())).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, img.statusCode());
        assertEquals("image/png", img.headers().firstValue("Content-Type").orElseThrow());
        Path file = s.outputDir.resolve(url.substring(url.lastIndexOf('/') + 1));
        assertArrayEquals(Files.readAllBytes(file), img.body());
    }

    @Test
    void openAiErrorsNameTheParameter() throws Exception {
        Map<String, Object> e = TestServer.error(expect(400, "/v1/images/generations", "{\"prompt\":\"x\",\"size\":\"big\"}"));
        assertEquals("size", e.get("param"));
        assertEquals("invalid_request_error", e.get("type"));
        e = TestServer.error(expect(400, "/v1/images/generations", "{\"prompt\":\"x\",\"size\":\"1000x1000\"}"));
        assertEquals("size", e.get("param"));
        assertTrue(((String) e.get("message")).contains("multiple of 16"), e.toString());
        e = TestServer.error(expect(400, "/v1/images/generations", "{\"prompt\":\"x\",\"size\":\"64x64\",\"response_format\":\"jpeg\"}"));
        assertEquals("response_format", e.get("param"));
        e = TestServer.error(expect(400, "/v1/images/generations", "{\"size\":\"64x64\"}"));
        assertEquals("prompt", e.get("param"));
        e = TestServer.error(expect(400, "/v1/images/generations", "{\"prompt\":\"x\",\"size\":\"64x64\",\"loras\":[{\"path\":\"a.safetensors\",\"strength\":1}]}"));
        assertEquals("loras[0].path", e.get("param"));
    }

    @Test
    @SuppressWarnings("unchecked")
    void a1111Txt2ImgWithTheWebUisFullPayload() throws Exception {
        // The web UI's StableDiffusionTxt2ImgProcessingAPI fields as clients (sdwebuiapi, Krita, Photoshop plugins) send them.
        HttpResponse<String> r = s.post("/sdapi/v1/txt2img", """
                {"enable_hr":false,"denoising_strength":0,"firstphase_width":0,"firstphase_height":0,"hr_scale":2,
                 "hr_upscaler":"Latent","hr_second_pass_steps":0,"hr_resize_x":0,"hr_resize_y":0,
                 "prompt":"a red fox in the snow","styles":[],"seed":7,"subseed":-1,"subseed_strength":0,
                 "seed_resize_from_h":-1,"seed_resize_from_w":-1,"sampler_name":"Euler a","batch_size":2,"n_iter":1,
                 "steps":2,"cfg_scale":3,"width":48,"height":32,"restore_faces":false,"tiling":false,
                 "do_not_save_samples":false,"do_not_save_grid":false,"negative_prompt":"blurry","eta":0,
                 "s_min_uncond":0,"s_churn":0,"s_tmax":0,"s_tmin":0,"s_noise":1,"override_settings":{},
                 "override_settings_restore_afterwards":true,"script_args":[],"sampler_index":"Euler",
                 "script_name":null,"send_images":true,"save_images":false,"alwayson_scripts":{}}""");
        assertEquals(200, r.statusCode(), r.body());
        Map<String, Object> body = TestServer.json(r);
        List<String> images = (List<String>) body.get("images");
        assertEquals(2, images.size());
        Map<String, Object> info = (Map<String, Object>) Json.parse((String) body.get("info"));
        assertEquals(List.of(7L, 8L), info.get("all_seeds"));
        assertEquals(7L, info.get("seed"));
        List<String> infotexts = (List<String>) info.get("infotexts");
        for (int i = 0; i < 2; i++) {
            byte[] png = Base64.getDecoder().decode(images.get(i));
            BufferedImage img = TestServer.png(png);
            assertEquals(48, img.getWidth());
            assertEquals(32, img.getHeight());
            GenerationMetadata meta = metadata(png);
            assertEquals(7 + i, meta.seed());
            // cfg_scale keeps A1111's meaning: w = 3 is Z-Image's guidance g = 2.
            assertEquals(2.0, meta.guidanceScale());
            assertTrue(infotexts.get(i).contains("CFG scale: 3") && infotexts.get(i).contains("Seed: " + (7 + i)), infotexts.get(i));
            assertEquals(PngFiles.readText(writeTemp(png)).get(PngFiles.PARAMETERS_KEY), infotexts.get(i));
        }
        Map<String, Object> params = (Map<String, Object>) body.get("parameters");
        assertEquals("a red fox in the snow", params.get("prompt"));
        assertEquals(7L, params.get("seed"));
        assertEquals(3.0, ((Number) params.get("cfg_scale")).doubleValue());
    }

    @Test
    void a1111RandomSeedAndBadValues() throws Exception {
        HttpResponse<String> r = s.post("/sdapi/v1/txt2img", "{\"prompt\":\"x\",\"seed\":-1,\"steps\":1,\"width\":16,\"height\":16}");
        assertEquals(200, r.statusCode(), r.body());
        Map<?, ?> info = (Map<?, ?>) Json.parse((String) TestServer.json(r).get("info"));
        assertTrue(((Number) info.get("seed")).longValue() >= 0);
        assertEquals("cfg_scale", TestServer.error(expect(400, "/sdapi/v1/txt2img", "{\"prompt\":\"x\",\"cfg_scale\":0.5}")).get("param"));
        assertEquals("width", TestServer.error(expect(400, "/sdapi/v1/txt2img", "{\"prompt\":\"x\",\"width\":\"wide\"}")).get("param"));
    }

    @Test
    @SuppressWarnings("unchecked")
    void a1111ProgressDuringAndAfterAJob() throws Exception {
        CountDownLatch atStep2 = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        s.server.queue().afterStep = job -> {
            if (job.step() == 2) {
                atStep2.countDown();
                TestServer.await(release);
            }
        };
        try {
            CompletableFuture<HttpResponse<String>> running = CompletableFuture.supplyAsync(() -> {
                try {
                    return s.post("/sdapi/v1/txt2img", "{\"prompt\":\"x\",\"steps\":4,\"width\":32,\"height\":32}");
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            assertTrue(atStep2.await(60, TimeUnit.SECONDS));
            Map<String, Object> p = TestServer.json(s.get("/sdapi/v1/progress"));
            Map<String, Object> st = (Map<String, Object>) p.get("state");
            assertEquals(2L, st.get("sampling_step"));
            assertEquals(4L, st.get("sampling_steps"));
            assertEquals(1L, st.get("job_count"));
            assertEquals(0.5, ((Number) p.get("progress")).doubleValue(), 1e-9);
            assertEquals(4 * 4, TestServer.png(Base64.getDecoder().decode((String) p.get("current_image"))).getWidth() * 4);
            release.countDown();
            assertEquals(200, running.get(60, TimeUnit.SECONDS).statusCode());
        } finally {
            release.countDown();
            s.server.queue().afterStep = job -> { };
        }
        Map<String, Object> idle = TestServer.json(s.get("/sdapi/v1/progress"));
        assertEquals(0.0, ((Number) idle.get("progress")).doubleValue());
        assertNull(idle.get("current_image"));
        assertNotNull(idle.get("state"));
    }

    static Path writeTemp(byte[] png) throws Exception {
        Path f = Files.createTempFile(root, "img", ".png");
        Files.write(f, png);
        return f;
    }

    static HttpResponse<String> expect(int status, String path, String body) throws Exception {
        HttpResponse<String> r = s.post(path, body);
        assertEquals(status, r.statusCode(), r.body());
        return r;
    }
}

package io.github.zimage4j.server;

import io.github.zimage4j.io.Json;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The native job API: submit, progress as server-sent events with previews, result, cancel. */
class JobApiTest extends OnTinyServer {

    record Event(String name, Map<String, Object> data) {
    }

    /** Reads the job's event stream to its end. */
    @SuppressWarnings("unchecked")
    static List<Event> events(String id) throws Exception {
        HttpResponse<InputStream> r = s.client.send(s.request("/api/jobs/" + id + "/events").GET().build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("Content-Type").orElseThrow().startsWith("text/event-stream"));
        List<Event> out = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            String name = null;
            String line;
            while ((line = in.readLine()) != null) {
                if (line.startsWith("event: ")) {
                    name = line.substring(7);
                } else if (line.startsWith("data: ")) {
                    out.add(new Event(name, (Map<String, Object>) Json.parse(line.substring(6))));
                }
            }
        }
        return out;
    }

    static String submit(String json) throws Exception {
        HttpResponse<String> r = s.post("/api/jobs", json);
        assertEquals(202, r.statusCode(), r.body());
        String id = (String) TestServer.json(r).get("id");
        assertEquals("/api/jobs/" + id, r.headers().firstValue("Location").orElseThrow());
        return id;
    }

    @Test
    @SuppressWarnings("unchecked")
    void jobStreamsProgressAndPreviewsThenServesItsImages() throws Exception {
        String id = submit("""
                {"prompt":"一只在雪地里的红狐狸","width":64,"height":32,"steps":3,"seed":42,"batch_size":2,"preview_every":1}""");
        List<Event> ev = events(id);
        List<String> names = ev.stream().map(Event::name).toList();
        assertEquals("queued", names.get(0));
        assertTrue(names.indexOf("started") > 0, names.toString());
        assertEquals("succeeded", names.get(names.size() - 1));
        List<Event> progress = ev.stream().filter(e -> e.name().equals("progress")).toList();
        assertEquals(List.of(1L, 2L, 3L), progress.stream().map(e -> e.data().get("step")).toList());
        assertTrue(progress.stream().allMatch(e -> e.data().get("total_steps").equals(3L)));
        List<Event> previews = ev.stream().filter(e -> e.name().equals("preview")).toList();
        assertEquals(3, previews.size(), "a preview after every step");
        String dataUrl = (String) previews.get(2).data().get("image");
        assertTrue(dataUrl.startsWith("data:image/png;base64,"));
        var preview = TestServer.png(Base64.getDecoder().decode(dataUrl.substring(dataUrl.indexOf(',') + 1)));
        assertEquals(64 / 8, preview.getWidth());
        assertEquals(32 / 8, preview.getHeight());
        assertTrue(names.containsAll(List.of("stage")), names.toString());

        Map<String, Object> done = ev.get(ev.size() - 1).data();
        List<Map<String, Object>> images = (List<Map<String, Object>>) done.get("images");
        assertEquals(List.of(42L, 43L), images.stream().map(i -> i.get("seed")).toList());
        for (Map<String, Object> img : images) {
            HttpResponse<byte[]> png = s.getBytes((String) img.get("url"));
            assertEquals(200, png.statusCode());
            assertEquals(64, TestServer.png(png.body()).getWidth());
            assertTrue(((String) img.get("parameters")).contains("Seed: " + img.get("seed")));
        }
        Map<String, Object> state = TestServer.json(s.get("/api/jobs/" + id));
        assertEquals("succeeded", state.get("status"));
        assertEquals(1.0, ((Number) state.get("progress")).doubleValue());
        assertEquals("一只在雪地里的红狐狸", ((Map<String, Object>) state.get("params")).get("prompt"));
        // A late subscriber still gets the whole story (without previews) and the end.
        List<Event> replay = events(id);
        assertEquals("succeeded", replay.get(replay.size() - 1).name());
        assertTrue(replay.stream().noneMatch(e -> e.name().equals("preview")));
        assertEquals(404, s.getBytes("/api/jobs/" + id + "/images/2").statusCode());
    }

    @Test
    void cancelRunningAndWaitingJobs() throws Exception {
        try (TestServer.Hold hold = s.hold()) {
            String running = submit("{\"prompt\":\"a\",\"width\":32,\"height\":32,\"steps\":5}");
            String waiting = submit("{\"prompt\":\"b\",\"width\":32,\"height\":32,\"steps\":5}");
            hold.awaitHeld();
            assertEquals(1L, TestServer.json(s.get("/api/jobs/" + waiting)).get("position"));
            HttpResponse<String> c = s.client.send(s.request("/api/jobs/" + waiting).DELETE().build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, c.statusCode());
            assertEquals("cancelled", TestServer.json(c).get("status"));
            assertEquals(200, s.post("/api/jobs/" + running + "/cancel", "").statusCode());
            hold.release();
            List<Event> ev = events(running);
            assertEquals("cancelled", ev.get(ev.size() - 1).name());
            Map<String, Object> st = TestServer.json(s.get("/api/jobs/" + running));
            assertEquals("cancelled", st.get("status"));
            assertTrue(((Number) st.get("step")).intValue() < 5, "stopped between steps");
            assertEquals(List.of(), st.get("images"));
        }
    }

    /** A PNG of seeded noise (or a left/right black/white mask), base64. */
    static String pngBase64(int w, int h, boolean mask) throws Exception {
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB);
        java.util.Random r = new java.util.Random(w * 31L + h);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, mask ? (x >= w / 2 ? 0xFFFFFF : 0) : r.nextInt(0x1000000));
            }
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        javax.imageio.ImageIO.write(img, "png", out);
        return Base64.getEncoder().encodeToString(out.toByteArray());
    }

    @Test
    @SuppressWarnings("unchecked")
    void imageToImageAndInpaintingFromBase64Images() throws Exception {
        String init = pngBase64(70, 50, false);
        // No size given: the init image's, rounded down to multiples of 16 (64x48); strength 0.5 runs half the schedule.
        String id = submit("{\"prompt\":\"a fox\",\"init_image\":\"data:image/png;base64," + init + "\",\"strength\":0.5,"
                + "\"steps\":4,\"seed\":3}");
        List<Event> ev = events(id);
        assertEquals("succeeded", ev.get(ev.size() - 1).name(), ev.toString());
        assertEquals(List.of(1L, 2L), ev.stream().filter(e -> e.name().equals("progress")).map(e -> e.data().get("step")).toList());
        Map<String, Object> job = TestServer.json(s.get("/api/jobs/" + id));
        Map<String, Object> params = (Map<String, Object>) job.get("params");
        assertEquals(64L, params.get("width"));
        assertEquals(48L, params.get("height"));
        assertEquals(0.5, params.get("strength"));
        byte[] png = s.getBytes("/api/jobs/" + id + "/images/0").body();
        assertEquals(64, TestServer.png(png).getWidth());
        assertTrue(((String) ((List<Map<String, Object>>) job.get("images")).get(0).get("parameters")).contains("Denoising strength: 0.5"));

        String inpaint = submit("{\"prompt\":\"a fox\",\"init_image\":\"" + pngBase64(64, 48, false) + "\",\"mask\":\""
                + pngBase64(64, 48, true) + "\",\"steps\":2,\"seed\":4}");
        List<Event> ev2 = events(inpaint);
        assertEquals("succeeded", ev2.get(ev2.size() - 1).name(), ev2.toString());
        assertEquals(1.0, ((Map<String, Object>) TestServer.json(s.get("/api/jobs/" + inpaint)).get("params")).get("strength"));
    }

    @Test
    void imageInputErrorsNameTheField() throws Exception {
        String img = pngBase64(32, 32, false);
        assertEquals("mask", TestServer.error(s.post("/api/jobs", "{\"prompt\":\"x\",\"mask\":\"" + img + "\"}")).get("param"));
        assertEquals("strength", TestServer.error(s.post("/api/jobs", "{\"prompt\":\"x\",\"strength\":0.5}")).get("param"));
        assertEquals("strength", TestServer.error(s.post("/api/jobs", "{\"prompt\":\"x\",\"init_image\":\"" + img + "\",\"strength\":1.5}")).get("param"));
        assertEquals("init_image", TestServer.error(s.post("/api/jobs", "{\"prompt\":\"x\",\"init_image\":\"not base64!\"}")).get("param"));
        Map<String, Object> gif = TestServer.error(s.post("/api/jobs", "{\"prompt\":\"x\",\"init_image\":\""
                + Base64.getEncoder().encodeToString("GIF89a....".getBytes(StandardCharsets.US_ASCII)) + "\"}"));
        assertEquals("init_image", gif.get("param"));
        assertTrue(gif.get("message").toString().contains("GIF"), gif.toString());
        Map<String, Object> control = TestServer.error(s.post("/api/jobs", "{\"prompt\":\"x\",\"control_image\":\"" + img + "\"}"));
        assertEquals("control_image", control.get("param"));
        assertTrue(control.get("message").toString().contains("--controlnet"), control.toString());
        assertEquals("control_type", TestServer.error(s.post("/api/jobs", "{\"prompt\":\"x\",\"control_type\":\"canny\"}")).get("param"));
    }

    @Test
    void unknownJobsAndFields() throws Exception {
        assertEquals(404, s.get("/api/jobs/0123456789abcdef").statusCode());
        assertEquals(404, s.get("/api/jobs/nothex").statusCode());
        Map<String, Object> e = TestServer.error(s.post("/api/jobs", "{\"prompt\":\"x\",\"widht\":64}"));
        assertEquals("widht", e.get("param"));
        e = TestServer.error(s.post("/api/jobs", "{\"prompt\":\"x\",\"n\":1,\"batch_size\":1}"));
        assertEquals("batch_size", e.get("param"));
        e = TestServer.error(s.post("/api/jobs", "{\"prompt\":\"x\",\"model\":\"other\"}"));
        assertEquals("model", e.get("param"));
        assertEquals(405, s.get("/api/jobs").statusCode());
    }

    @Test
    @SuppressWarnings("unchecked")
    void infoDescribesTheModelForThePage() throws Exception {
        Map<String, Object> info = TestServer.json(s.get("/api/info"));
        assertEquals("tiny", info.get("model"));
        assertEquals(true, info.get("turbo"));
        assertEquals(8L, ((Map<String, Object>) info.get("defaults")).get("steps"));
        List<Map<String, Object>> sizes = (List<Map<String, Object>>) info.get("sizes");
        assertTrue(sizes.contains(Map.of("width", 1024L, "height", 1024L)));
        assertTrue(sizes.contains(Map.of("width", 1152L, "height", 896L)));
        assertTrue(sizes.stream().allMatch(z -> (Long) z.get("width") % 16 == 0 && (Long) z.get("height") % 16 == 0));
    }
}

package io.github.zimage4j.server;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A bounded load test on loopback: {@value #REQUESTS} requests (native jobs and synchronous OpenAI calls
 * mixed) fired at once at a queue of {@value #CAPACITY}, within {@value #SECONDS} s. Every request is either
 * accepted and then generated exactly once with its own seed, or refused with 429 and a Retry-After; the
 * queue never holds more than its capacity; nothing is lost or duplicated.
 */
class QueueLoadTest {

    static final int REQUESTS = 96;
    static final int CAPACITY = 4;
    static final int SECONDS = 180;

    @TempDir
    Path root;

    record Outcome(long seed, int status, String id, long resultSeed, String retryAfter) {
    }

    @Test
    void holdsAndRejectsAsSpecifiedWithNoLostOrDuplicatedJobs() throws Exception {
        try (TestServer s = new TestServer(root, null, Limits.defaults(), CAPACITY, TestServer.tinyHost()).ready()) {
            Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();
            AtomicInteger maxWaiting = new AtomicInteger();
            s.server.queue().afterStep = job -> {
                runs.computeIfAbsent(job.id(), k -> new AtomicInteger()).incrementAndGet();
                maxWaiting.accumulateAndGet(s.server.queue().waitingCount(), Math::max);
            };
            long t0 = System.nanoTime();
            List<Outcome> outcomes = assertTimeoutPreemptively(Duration.ofSeconds(SECONDS), () -> fire(s));
            double seconds = (System.nanoTime() - t0) / 1e9;

            List<Outcome> accepted = outcomes.stream().filter(o -> o.status() == 200 || o.status() == 202).toList();
            List<Outcome> refused = outcomes.stream().filter(o -> o.status() == 429).toList();
            assertEquals(REQUESTS, accepted.size() + refused.size(), "every request is accepted or refused: " + outcomes);
            assertTrue(accepted.size() > CAPACITY, "more than one queue's worth was served: " + accepted.size());
            assertTrue(!refused.isEmpty(), "a burst of " + REQUESTS + " overflows a queue of " + CAPACITY);
            for (Outcome o : refused) {
                assertTrue(o.retryAfter() != null && Long.parseLong(o.retryAfter()) >= 1, o.toString());
            }
            // Exactly once: each accepted job ran (one step each) once, with its own seed; ids are unique.
            Set<String> ids = new HashSet<>();
            for (Outcome o : accepted) {
                assertTrue(ids.add(o.id()), "duplicate job id " + o.id());
                assertEquals(o.seed(), o.resultSeed(), "the image of request seed " + o.seed());
                assertEquals(1, runs.get(o.id()).get(), "job " + o.id() + " ran once");
            }
            assertEquals(ids, runs.keySet(), "no job ran that was not accepted");
            assertTrue(maxWaiting.get() <= CAPACITY, "at most " + CAPACITY + " waiting, saw " + maxWaiting.get());
            try (Stream<Path> files = Files.list(s.outputDir)) {
                assertEquals(accepted.size(), files.count(), "one file per accepted image");
            }
            System.out.printf("load test burst: %d requests, %d accepted, %d refused with 429 in %.1f s; max %d waiting%n",
                    REQUESTS, accepted.size(), refused.size(), seconds, maxWaiting.get());
        }
    }

    /**
     * Clients that retry after a 429 (sooner than Retry-After asks, to keep the test short) all get served in
     * the end, each exactly once, in a bounded time.
     */
    @Test
    void retryingClientsAreAllServedExactlyOnce() throws Exception {
        int clients = 8;
        int perClient = 6;
        try (TestServer s = new TestServer(root, null, Limits.defaults(), CAPACITY, TestServer.tinyHost()).ready()) {
            Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();
            s.server.queue().afterStep = job -> runs.computeIfAbsent(job.id(), k -> new AtomicInteger()).incrementAndGet();
            AtomicInteger refusals = new AtomicInteger();
            ConcurrentLinkedQueue<Outcome> done = new ConcurrentLinkedQueue<>();
            long t0 = System.nanoTime();
            assertTimeoutPreemptively(Duration.ofSeconds(SECONDS), () -> {
                List<Thread> threads = new ArrayList<>();
                for (int c = 0; c < clients; c++) {
                    int client = c;
                    threads.add(Thread.ofVirtual().start(() -> {
                        for (int k = 0; k < perClient; k++) {
                            long seed = 5000 + client * 100L + k;
                            String body = "{\"prompt\":\"retry\",\"width\":16,\"height\":16,\"steps\":1,\"seed\":" + seed + "}";
                            try {
                                HttpResponse<String> r;
                                while ((r = s.post("/api/jobs", body)).statusCode() == 429) {
                                    refusals.incrementAndGet();
                                    Thread.sleep(100);
                                }
                                assertEquals(202, r.statusCode(), r.body());
                                Job job = s.server.queue().get((String) TestServer.json(r).get("id"));
                                job.awaitDone();
                                done.add(new Outcome(seed, 202, job.id(), job.images().get(0).seed(), null));
                            } catch (Exception e) {
                                throw new RuntimeException(e);
                            }
                        }
                    }));
                }
                for (Thread t : threads) {
                    t.join();
                }
            });
            assertEquals(clients * perClient, done.size());
            Set<Long> seeds = new HashSet<>();
            for (Outcome o : done) {
                assertEquals(o.seed(), o.resultSeed());
                assertTrue(seeds.add(o.seed()));
                assertEquals(1, runs.get(o.id()).get());
            }
            assertEquals(clients * perClient, runs.size());
            System.out.printf("load test retrying: %d jobs from %d clients served exactly once, %d refusals retried, %.1f s%n",
                    done.size(), clients, refusals.get(), (System.nanoTime() - t0) / 1e9);
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Outcome> fire(TestServer s) {
        ConcurrentLinkedQueue<Outcome> out = new ConcurrentLinkedQueue<>();
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (int i = 0; i < REQUESTS; i++) {
            long seed = 1000 + i;
            boolean openAi = i % 3 == 2;
            String body = openAi
                    ? "{\"prompt\":\"load " + i + "\",\"size\":\"16x16\",\"steps\":1,\"seed\":" + seed + "}"
                    : "{\"prompt\":\"load " + i + "\",\"width\":16,\"height\":16,\"steps\":1,\"seed\":" + seed + "}";
            HttpRequest req = s.request(openAi ? "/v1/images/generations" : "/api/jobs")
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
            all.add(s.client.sendAsync(req, HttpResponse.BodyHandlers.ofString()).thenAccept(r -> {
                String retry = r.headers().firstValue("Retry-After").orElse(null);
                if (r.statusCode() == 429) {
                    out.add(new Outcome(seed, 429, null, -1, retry));
                    return;
                }
                Map<String, Object> json = TestServer.json(r);
                if (openAi && r.statusCode() == 200) {
                    Map<String, Object> d = ((List<Map<String, Object>>) json.get("data")).get(0);
                    // The OpenAI answer has no job id: the seed identifies the job (all seeds differ).
                    Job job = findBySeed(s, seed);
                    out.add(new Outcome(seed, 200, job.id(), (Long) d.get("seed"), retry));
                } else if (r.statusCode() == 202) {
                    Job job = s.server.queue().get((String) json.get("id"));
                    try {
                        job.awaitDone();
                    } catch (InterruptedException e) {
                        throw new RuntimeException(e);
                    }
                    out.add(new Outcome(seed, 202, job.id(), job.images().get(0).seed(), retry));
                } else {
                    out.add(new Outcome(seed, r.statusCode(), null, -1, r.body()));
                }
            }));
        }
        CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).join();
        return new ArrayList<>(out);
    }

    private static Job findBySeed(TestServer s, long seed) {
        for (Job j : s.server.queue().jobsSnapshot()) {
            if (j.params().seed() == seed) {
                return j;
            }
        }
        throw new AssertionError("no job with seed " + seed);
    }
}

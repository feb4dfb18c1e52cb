package io.github.zimage4j.server;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.pipeline.Cancellation;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One queued generation: its settings, its state and the log of events a progress stream replays (so a
 * client that connects late still sees everything from the start, except previews once the job is done).
 */
public final class Job {

    public enum Status {
        QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED;

        boolean terminal() {
            return this == SUCCEEDED || this == FAILED || this == CANCELLED;
        }

        String json() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** One finished image: the PNG (with its metadata chunks), its file under the output folder, its infotext. */
    public record Image(int index, long seed, String file, byte[] png, String parameters) {
    }

    /** One entry of the progress stream: an SSE event name and its JSON data. */
    record Event(int seq, String name, String data, boolean terminal) {
    }

    final String id;
    final ImageParams params;
    final long createdMillis = System.currentTimeMillis();
    final Cancellation cancel = new Cancellation();

    private Status status = Status.QUEUED;
    private String stage = "queued";
    private int step;
    private int totalSteps;
    private String error;
    private List<Image> images = List.of();
    private long startedNanos;
    private double seconds;
    private byte[] latestPreview;
    private final List<Event> events = new ArrayList<>();
    private int nextSeq;

    Job(String id, ImageParams params) {
        this.id = id;
        this.params = params;
        this.totalSteps = params.steps();
    }

    public String id() {
        return id;
    }

    public ImageParams params() {
        return params;
    }

    public synchronized Status status() {
        return status;
    }

    public synchronized List<Image> images() {
        return images;
    }

    public synchronized String error() {
        return error;
    }

    synchronized int step() {
        return step;
    }

    synchronized int totalSteps() {
        return totalSteps;
    }

    synchronized String stage() {
        return stage;
    }

    /** The last preview PNG (null before the first); A1111's progress endpoint shows it. */
    synchronized byte[] latestPreview() {
        return latestPreview;
    }

    synchronized void preview(int atStep, byte[] png) {
        latestPreview = png;
        emit("preview", Map.of("step", atStep,
                "image", "data:image/png;base64," + java.util.Base64.getEncoder().encodeToString(png)));
    }

    /** Fraction done: denoising is the bulk of the work; decoding finishes it. */
    synchronized double progress() {
        return switch (status) {
            case QUEUED -> 0;
            case SUCCEEDED -> 1;
            default -> totalSteps == 0 ? 0 : Math.min(0.99, step / (double) totalSteps);
        };
    }

    /** Seconds the job has run (so far, or in all once finished). */
    synchronized double seconds() {
        return status == Status.RUNNING ? (System.nanoTime() - startedNanos) / 1e9 : seconds;
    }

    synchronized void emit(String name, Map<String, Object> data) {
        events.add(new Event(nextSeq++, name, Json.write(data), false));
        notifyAll();
    }

    synchronized void started() {
        status = Status.RUNNING;
        stage = "starting";
        startedNanos = System.nanoTime();
        emit("started", Map.of("id", id));
    }

    synchronized void stage(String s) {
        stage = s;
        emit("stage", Map.of("stage", s));
    }

    synchronized void stepDone(int done, int total) {
        step = done;
        totalSteps = total;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", done);
        m.put("total_steps", total);
        m.put("progress", progress());
        emit("progress", m);
    }

    synchronized void finish(Status end, List<Image> results, String message, Map<String, Object> summary) {
        if (status.terminal()) {
            return;
        }
        status = end;
        stage = end.json();
        images = results;
        error = message;
        if (startedNanos != 0) {
            seconds = (System.nanoTime() - startedNanos) / 1e9;
        }
        // A finished job keeps its events for late subscribers, but not its previews (they are large).
        events.removeIf(e -> e.name().equals("preview"));
        events.add(new Event(nextSeq++, end.json(), Json.write(summary), true));
        notifyAll();
    }

    /** The first event with sequence number ≥ {@code from}, waiting up to {@code timeoutMillis}; null on timeout. */
    synchronized Event awaitEvent(int from, long timeoutMillis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (true) {
            for (Event e : events) {
                if (e.seq() >= from) {
                    return e;
                }
            }
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return null;
            }
            wait(left);
        }
    }

    /** Waits until the job has finished, one way or another. */
    synchronized void awaitDone() throws InterruptedException {
        while (!status.terminal()) {
            wait();
        }
    }
}

package io.github.zimage4j.cli;

import io.github.zimage4j.batch.BatchRunner;
import io.github.zimage4j.batch.JobFile;
import io.github.zimage4j.batch.Manifest;
import io.github.zimage4j.batch.ManifestRecord;
import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.pipeline.Cancellation;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.ZImagePipeline;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code zimage4j batch}: many requests from a JSON Lines file, one model load, resumable. */
@Command(name = "batch", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Generate every request of a JSON Lines file into a folder, loading the model once.",
                "",
                "Each line is one request: {\"id\": \"fox-1\", \"prompt\": \"a red fox\", \"seed\": 42, ...} with the fields "
                        + "id (required, unique; names the PNG), prompt (required), negative_prompt, width, height, steps, guidance, "
                        + "cfg_normalization, cfg_truncation, seed, max_sequence_length. Absent fields take the model's defaults; "
                        + "a first line {\"defaults\": {...}} sets them for every request. A request without a seed gets one "
                        + "derived from its id. The whole file is checked before anything runs.",
                "",
                "Output: DIR/<id>.png (with its settings as metadata) and DIR/manifest.jsonl, one line per finished "
                        + "(id, seed, file, sha256, bytes, seconds, backend) or failed (id, error) request. Running the same "
                        + "command again skips what is done; Ctrl-C loses at most the image in progress.",
                ""})
final class BatchCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "JOBS.jsonl", description = "The requests, one JSON object per line.")
    Path jobs;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "DIR", description = "Output folder (created if needed).")
    Path out;

    @Option(names = "--retry-failed", description = "Run the requests the manifest records as failed again (default: skip them).")
    boolean retryFailed;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = {"-v", "--verbose"}, description = "Print every denoising step.")
    boolean verbose;

    private final PrintStream err = System.err;

    @Override
    public Integer call() throws Exception {
        modelOptions.applyCompute(err);
        // Everything is checked before the model is loaded: the job file, the output folder, the manifest.
        JobFile jobFile = JobFile.read(jobs);
        ModelFiles files = modelOptions.files();
        ZImagePipeline.Options options = modelOptions.pipelineOptions();
        try (BatchRunner runner = BatchRunner.open(jobFile, out, retryFailed, w -> err.println("zimage4j: " + w))) {
            BatchRunner.Plan plan = runner.plan();
            err.printf("%d requests: %d done, %d to make%s%s%n", plan.total(), plan.done(), plan.todo().size(),
                    plan.failed() > 0 ? ", " + plan.failed() + " failed earlier (skipped; --retry-failed runs them)" : "",
                    plan.missing() > 0 ? " (" + plan.missing() + " of them recorded but missing)" : "");
            if (plan.todo().isEmpty()) {
                return plan.failed() > 0 ? 2 : 0;
            }
            Cancellation cancel = new Cancellation();
            BatchRunner.Summary summary;
            try (InterruptGuard _ = new InterruptGuard(err, cancel, runner.writing(),
                    "every finished image is in " + out.resolve(Manifest.FILE_NAME) + "; run the same command to continue");
                 ZImagePipeline pipe = ZImagePipeline.load(files, options)) {
                err.printf("%s (%s) · backend %s · %d threads%n", files.name(), pipe.variant().displayName(),
                        pipe.backend().name(), Parallel.get().threads());
                summary = runner.run(pipe, new Report(verbose), cancel);
            }
            err.printf("%d made, %d failed%s; manifest %s%n", summary.done(), summary.failed(),
                    summary.cancelled() ? ", stopped before the end" : "", out.resolve(Manifest.FILE_NAME));
            if (summary.cancelled()) {
                return 130;
            }
            return summary.failed() > 0 || plan.failed() > 0 ? 2 : 0;
        }
    }

    /** One line per finished request: count, rate, ETA; the steps too with --verbose. */
    private final class Report implements BatchRunner.Listener {
        private final boolean verbose;

        Report(boolean verbose) {
            this.verbose = verbose;
        }

        @Override
        public io.github.zimage4j.pipeline.PipelineListener pipeline(JobFile.Item item) {
            return verbose ? new GenerateCommand.Progress(err, false, false) : io.github.zimage4j.pipeline.PipelineListener.NONE;
        }

        @Override
        public void finished(JobFile.Item item, ManifestRecord record, BatchRunner.Progress p) {
            int finished = p.done() + p.failed();
            String what = record.isDone() ? record.file() + " (seed " + record.seed() + ", " + String.format("%.1f s", record.seconds()) + ")"
                    : "FAILED: " + record.error();
            err.printf("[%d/%d] %s: %s · %.0f images/hour · ETA %s%n", finished, finished + p.remaining(), item.id(), what,
                    p.imagesPerHour(), duration(p.etaSeconds()));
        }
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s >= 3600) {
            return (s / 3600) + "h" + String.format("%02dm", s % 3600 / 60);
        }
        return s >= 60 ? (s / 60) + "m" + String.format("%02ds", s % 60) : s + "s";
    }
}

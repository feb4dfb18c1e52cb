package io.github.zimage4j.spark;

import io.github.zimage4j.batch.BatchRunner;
import io.github.zimage4j.batch.JobFile;
import io.github.zimage4j.batch.ManifestRecord;
import io.github.zimage4j.batch.RenderedImage;
import io.github.zimage4j.image.GenerationMetadata;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.io.AtomicFiles;
import io.github.zimage4j.pipeline.Cancellation;
import io.github.zimage4j.pipeline.TinyModel;
import org.apache.spark.sql.SparkSession;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/**
 * Not a test: measures the job's own overheads for docs/scaling.md (run by hand, see there). The tiny
 * model makes generation almost free, so what remains is the job: Spark scheduling, PNG encoding, hashing,
 * file system writes, manifest rows.
 */
public final class OverheadProbe {

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 48;
        Path dir = Files.createTempDirectory("zimage4j-probe");
        Path model = dir.resolve("model");
        TinyModel.write(model, 1);
        StringBuilder jobs = new StringBuilder("{\"defaults\": {\"width\": 64, \"height\": 64, \"steps\": 2}}\n");
        for (int i = 0; i < n; i++) {
            jobs.append("{\"id\": \"r").append(i).append("\", \"prompt\": \"prompt ").append(i % 8).append("\"}\n");
        }
        Path jobsFile = Files.writeString(dir.resolve("jobs.jsonl"), jobs);
        SparkSession spark = SparkSession.builder().master("local[2]").config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
        SparkBatchJob.Model m = new SparkBatchJob.Model(model.toString(), "java", null);
        // Warm-up run (JIT, pipeline load), then the measured runs.
        SparkBatchJob.run(spark, new SparkBatchJob.Config(jobsFile.toString(), dir.resolve("warm").toString(), m, 2, false));
        for (int run = 0; run < 3; run++) {
            long t0 = System.nanoTime();
            SparkBatchJob.Result r = SparkBatchJob.run(spark, new SparkBatchJob.Config(jobsFile.toString(),
                    dir.resolve("spark" + run).toString(), m, 2, false));
            double wall = (System.nanoTime() - t0) / 1e9;
            double gen = r.manifest().collectAsList().stream().map(SparkBatchJob::record).mapToDouble(ManifestRecord::seconds).sum();
            long t1 = System.nanoTime();
            SparkBatchJob.Result skip = SparkBatchJob.run(spark, new SparkBatchJob.Config(jobsFile.toString(),
                    dir.resolve("spark" + run).toString(), m, 2, false));
            double resume = (System.nanoTime() - t1) / 1e9;
            System.out.printf("spark: %d images in %.2f s wall; sum of per-image seconds %.2f s; re-run with all done %.2f s (%d skipped)%n",
                    r.made(), wall, gen, resume, skip.skipped());

            long t2 = System.nanoTime();
            ExecutorPipeline.lock().lock();
            try (BatchRunner runner = BatchRunner.open(JobFile.read(jobsFile), dir.resolve("batch" + run), false, w -> { })) {
                runner.run(ExecutorPipeline.get(m), new BatchRunner.Listener() { }, new Cancellation());
            } finally {
                ExecutorPipeline.lock().unlock();
            }
            System.out.printf("batch: %d images in %.2f s wall%n", n, (System.nanoTime() - t2) / 1e9);
        }
        spark.stop();

        // Per-image output costs at the real sizes: PNG encoding of a noisy image (the worst case for
        // compression), SHA-256, and an atomic write.
        for (int side : new int[]{512, 1024}) {
            byte[] px = new byte[side * side * 3];
            new Random(1).nextBytes(px);
            UInt8Image img = new UInt8Image(side, side, 3, px);
            GenerationMetadata meta = new GenerationMetadata("a prompt", "", 8, "Euler", 0, 0, 1, 1, side, side, "m", "h", 3,
                    null, 512, "bf16", "zimage4j", null);
            double[] enc = new double[5];
            double[] hash = new double[5];
            double[] write = new double[5];
            byte[] png = null;
            for (int i = 0; i < 5; i++) {
                long a = System.nanoTime();
                png = PngFiles.toBytes(img, meta);
                long b = System.nanoTime();
                RenderedImage.sha256(png);
                long c = System.nanoTime();
                AtomicFiles.write(dir.resolve("w" + side + ".png"), png);
                long d = System.nanoTime();
                enc[i] = (b - a) / 1e6;
                hash[i] = (c - b) / 1e6;
                write[i] = (d - c) / 1e6;
            }
            Arrays.sort(enc);
            Arrays.sort(hash);
            Arrays.sort(write);
            System.out.printf("%d²: PNG %.1f MB, encode %.0f ms, sha256 %.1f ms, atomic write+fsync %.1f ms (medians of 5)%n",
                    side, png.length / 1e6, enc[2], hash[2], write[2]);
        }
    }
}

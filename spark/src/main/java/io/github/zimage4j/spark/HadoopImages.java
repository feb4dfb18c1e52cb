package io.github.zimage4j.spark;

import io.github.zimage4j.batch.RequestJson;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.io.InputStream;
import java.io.Serial;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;

/**
 * Request images (init image, mask, control image) on any Hadoop file system: local files are read in
 * place, others are copied to a local temporary file first (removed when the JVM exits).
 */
final class HadoopImages implements RequestJson.Images, Serializable {

    @Serial
    private static final long serialVersionUID = 1L;

    private final HadoopConf conf;

    HadoopImages(Configuration conf) {
        this.conf = new HadoopConf(conf);
    }

    @Override
    public java.nio.file.Path localFile(String path) throws IOException {
        Path p = new Path(path);
        FileSystem fs = p.getFileSystem(conf.get());
        if (fs instanceof LocalFileSystem local) {
            return local.pathToFile(p).toPath();
        }
        java.nio.file.Path copy = Files.createTempFile("zimage4j-image-", "-" + p.getName());
        copy.toFile().deleteOnExit();
        try (InputStream in = fs.open(p)) {
            Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
        }
        return copy;
    }

    /** A path as written in a job file: relative ones are taken from the job file's folder. */
    static String resolve(Path jobFile, String path) {
        Path p = new Path(path);
        return p.isAbsolute() || p.toUri().getScheme() != null ? path : new Path(jobFile.getParent(), path).toString();
    }
}

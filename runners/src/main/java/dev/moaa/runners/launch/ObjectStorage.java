package dev.moaa.runners.launch;

import dev.moaa.pipelines.RunSpec;
import dev.moaa.transforms.io.StoragePath;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.beam.sdk.extensions.gcp.options.GcpOptions;
import org.apache.beam.sdk.io.aws2.common.ClientBuilderFactory;
import org.apache.beam.sdk.io.aws2.options.AwsOptions;
import org.apache.beam.sdk.io.aws2.options.S3ClientBuilderFactory;
import org.apache.beam.sdk.io.aws2.options.S3Options;
import org.apache.beam.sdk.options.PipelineOptions;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;

/**
 * Inputs and outputs in object storage: {@code s3://} through Beam's AWS file system (Amazon S3 or
 * an S3-compatible server named by {@code --endpoint}) and {@code gs://} through Beam's Google Cloud
 * Storage file system.
 *
 * <p>Credentials come only from the providers' standard chains, never from flags: for S3 the AWS
 * SDK's default chain (the {@code AWS_ACCESS_KEY_ID}/{@code AWS_SECRET_ACCESS_KEY} environment
 * variables, the {@code aws.accessKeyId}/{@code aws.secretAccessKey} system properties, a profile
 * of {@code ~/.aws}, a web identity, a container or an instance role); for GCS the application
 * default credentials. A flag holding keys ({@code --awsCredentialsProvider} with a
 * {@code StaticCredentialsProvider}) is refused: Beam's options travel with the job and may be
 * printed, keys must not.
 *
 * <p>With {@code --endpoint} (an S3-compatible server) requests are path-style
 * ({@code http://host:port/bucket/key}), which such servers expect; the region is {@code
 * --awsRegion} or the SDK's chain ({@code AWS_REGION}, the profile).
 */
public final class ObjectStorage {
  private ObjectStorage() {}

  private static final java.util.regex.Pattern KEY_FIELDS = java.util.regex.Pattern.compile(
      "(?i)StaticCredentialsProvider|accessKeyId|secretAccessKey|awsSecretKey|sessionToken|secretKey");

  /** Beam flags whose values may hold a secret: never echoed in an error. */
  public static final Set<String> SECRET_FLAGS = Set.of("awsCredentialsProvider", "proxyConfiguration",
      "SSECustomerKey", "gcpCredential");

  /** Sets this product's S3 client factory ({@link PathStyleWithEndpoint}) unless {@code --s3ClientFactoryClass} was given. */
  static void apply(PipelineOptions options, Set<String> given) {
    if (!given.contains("s3ClientFactoryClass")) {
      options.as(S3Options.class).setS3ClientFactoryClass(PathStyleWithEndpoint.class);
    }
  }

  /**
   * Throws when {@code --awsCredentialsProvider} carries keys (a {@code StaticCredentialsProvider},
   * or any key field); the message never holds the value. Read from the flag's text, so that a
   * malformed value is refused too, before Beam reads it.
   */
  public static void refuseKeysInFlags(List<String> passed) {
    for (String f : passed) {
      if (!f.startsWith("--awsCredentialsProvider=")) {
        continue;
      }
      String v = f.substring(f.indexOf('=') + 1);
      if (!KEY_FIELDS.matcher(v).find()) {
        continue;
      }
      throw new IllegalArgumentException("--awsCredentialsProvider holds keys: this product takes credentials only"
          + " from the AWS SDK's standard chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a"
          + " role), so that no key travels in the job's options or reaches a log");
    }
  }

  /**
   * Checks, before anything runs, that every object-storage location of {@code spec} can be used:
   * an S3 location needs a region and credentials from the chain, a GCS one application default
   * credentials. Local paths need nothing. Throws {@link IllegalArgumentException} naming what is
   * missing and where to put it.
   */
  public static void check(RunSpec spec, PipelineOptions options) {
    List<String> locations = new ArrayList<>(spec.inputs());
    locations.add(spec.output());
    boolean s3 = false;
    boolean gs = false;
    String s3Example = null;
    String gsExample = null;
    for (String l : locations) {
      if (!StoragePath.isUrl(l)) {
        continue;
      }
      String scheme = l.substring(0, l.indexOf(':'));
      if (scheme.equals("s3")) {
        s3 = true;
        s3Example = s3Example == null ? l : s3Example;
      } else if (scheme.equals("gs")) {
        gs = true;
        gsExample = gsExample == null ? l : gsExample;
      }
    }
    if (s3) {
      AwsOptions aws = options.as(AwsOptions.class);
      if (aws.getAwsRegion() == null) {
        throw new IllegalArgumentException(s3Example + " needs an AWS region: give --awsRegion=REGION (for an"
            + " S3-compatible server, the one it expects, often us-east-1) or set AWS_REGION");
      }
      try {
        aws.getAwsCredentialsProvider().resolveCredentials();
      } catch (SdkException e) {
        throw new IllegalArgumentException(s3Example + " needs AWS credentials, and the AWS SDK's chain found none:"
            + " set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (a profile of ~/.aws/credentials),"
            + " or run with an instance, task or web-identity role");
      }
    }
    if (gs && options.as(GcpOptions.class).getGcpCredential() == null) {
      throw new IllegalArgumentException(gsExample + " needs Google Cloud credentials, and none were found"
          + " (application default credentials): set GOOGLE_APPLICATION_CREDENTIALS to a service account's key"
          + " file, run `gcloud auth application-default login`, or run on Google Cloud with a service account");
    }
  }

  /**
   * Beam's S3 client, with path-style requests when {@code --endpoint} names a server of one's
   * own (MinIO, Ceph, S3Mock, …). Everything else (region, credentials chain, retries, HTTP client
   * settings) is Beam's {@code ClientBuilderFactory}'s.
   */
  public static final class PathStyleWithEndpoint implements S3ClientBuilderFactory {
    @Override
    public S3ClientBuilder createBuilder(S3Options options) {
      S3ClientBuilder builder = ClientBuilderFactory.getFactory(options).create(S3Client.builder(), options);
      if (options.getEndpoint() != null) {
        builder.forcePathStyle(true);
      }
      return builder;
    }
  }
}

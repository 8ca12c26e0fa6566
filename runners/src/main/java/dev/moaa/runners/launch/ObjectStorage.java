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
import org.apache.beam.sdk.options.PipelineOptionsRegistrar;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.AwsProfileRegionProvider;
import software.amazon.awssdk.regions.providers.AwsRegionProviderChain;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;
import software.amazon.awssdk.regions.providers.SystemSettingsRegionProvider;
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

  /**
   * Sets this product's S3 client factory ({@link PathStyleWithEndpoint}) unless {@code
   * --s3ClientFactoryClass} was given; and, unless {@code --awsRegion} was given, the region from
   * the places that cost nothing to read ({@code AWS_REGION}, {@code aws.region}, the profile), or
   * none. Beam's own default would ask the EC2 instance metadata service on every run, local ones
   * included, when the file systems are registered (measured here: 0.85 s per run); a run that
   * does use S3 asks it in {@link #check}, and only then.
   */
  static void apply(PipelineOptions options, Set<String> given) {
    if (!given.contains("s3ClientFactoryClass")) {
      options.as(S3Options.class).setS3ClientFactoryClass(PathStyleWithEndpoint.class);
    }
    if (!given.contains("awsRegion")) {
      options.as(AwsOptions.class).setAwsRegion(localRegion());
    }
  }

  /** The region of {@code AWS_REGION}, the {@code aws.region} property or the profile; null when none names one. */
  private static Region localRegion() {
    try {
      return new AwsRegionProviderChain(new SystemSettingsRegionProvider(), new AwsProfileRegionProvider()).getRegion();
    } catch (SdkException | IllegalStateException e) {
      return null;
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
        // the whole chain, the instance metadata included: this run uses S3
        try {
          aws.setAwsRegion(new DefaultAwsRegionProviderChain().getRegion());
        } catch (SdkException e) {
          // no region anywhere: said below
        }
      }
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
   * Registers Beam's {@link S3Options} ({@code --s3StorageClass}, {@code --SSEAlgorithm}, {@code
   * --s3ClientFactoryClass}, ...) as command-line flags: Beam's AWS module registers only {@link
   * AwsOptions}.
   */
  public static final class OptionsRegistrar implements PipelineOptionsRegistrar {
    @Override
    public Iterable<Class<? extends PipelineOptions>> getPipelineOptions() {
      return List.of(S3Options.class);
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

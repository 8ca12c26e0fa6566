package dev.moaa.runners.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import org.apache.beam.sdk.io.aws2.options.S3Options;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.jupiter.api.Test;

class ObjectStorageTest {

  @Test
  void givenKeysInTheCredentialsFlag_theyAreRefused_withoutRepeatingThem() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ObjectStorage.refuseKeysInFlags(
        List.of("--awsCredentialsProvider={\"@type\":\"StaticCredentialsProvider\",\"accessKeyId\":\"AKIAX\","
            + "\"secretAccessKey\":\"sekrit-value\"}")));
    assertTrue(e.getMessage().contains("AWS_ACCESS_KEY_ID"), e.getMessage());
    assertFalse(e.getMessage().contains("sekrit-value") || e.getMessage().contains("AKIAX"), e.getMessage());
  }

  @Test
  void givenAProviderWithoutKeys_itIsAccepted() {
    ObjectStorage.refuseKeysInFlags(List.of("--awsCredentialsProvider={\"@type\":\"ProfileCredentialsProvider\"}",
        "--runner=DirectRunner"));
  }

  @Test
  void theProductsS3ClientFactory_isTheDefault_unlessOneIsGiven() {
    PipelineOptions o = PipelineOptionsFactory.create();
    ObjectStorage.apply(o, Set.of());
    assertEquals(ObjectStorage.PathStyleWithEndpoint.class, o.as(S3Options.class).getS3ClientFactoryClass());
    PipelineOptions given = PipelineOptionsFactory.fromArgs(
        "--s3ClientFactoryClass=org.apache.beam.sdk.io.aws2.s3.DefaultS3ClientBuilderFactory").create();
    ObjectStorage.apply(given, Set.of("s3ClientFactoryClass"));
    assertEquals("DefaultS3ClientBuilderFactory", given.as(S3Options.class).getS3ClientFactoryClass().getSimpleName());
  }

  @Test
  void aGivenRegion_isKept() {
    PipelineOptions o = PipelineOptionsFactory.fromArgs("--awsRegion=eu-west-3").create();
    ObjectStorage.apply(o, Set.of("awsRegion"));
    assertEquals("eu-west-3", o.as(S3Options.class).getAwsRegion().id());
  }
}

//! Amazon ECR: an image reference in a private registry (`ACCOUNT.dkr.ecr.REGION.amazonaws.com
//! /REPOSITORY:TAG`), and the digest its tag points to now (`DescribeImages`), so that what is
//! deployed is pinned and never moves with the tag.

use aws_config::SdkConfig;
use aws_sdk_ecr::types::ImageIdentifier;
use aws_smithy_types::error::display::DisplayErrorContext;

use super::endpoints::Endpoints;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcrError {
    #[error(
        "`{image}` is not an ECR image: ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG \
         (or @sha256:DIGEST)"
    )]
    NotEcr { image: String },
    #[error("ECR has no image `{image}` (repository `{repository}`, tag `{tag}`)")]
    NoImage {
        image: String,
        repository: String,
        tag: String,
    },
    #[error("looking up `{image}` in ECR: {detail}")]
    Call { image: String, detail: String },
}

/// What an image reference names: a tag, or a digest already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(String),
}

/// An image in a private ECR registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    /// The registry's host, `ACCOUNT.dkr.ecr.REGION.amazonaws.com`.
    pub host: String,
    /// The account that owns the registry (`registryId`).
    pub account: String,
    pub region: String,
    pub repository: String,
    pub reference: Reference,
}

impl EcrImage {
    pub fn parse(image: &str) -> Result<EcrImage, EcrError> {
        let not_ecr = || EcrError::NotEcr {
            image: image.to_string(),
        };
        let (host, path) = image.split_once('/').ok_or_else(not_ecr)?;
        let mut labels = host.split('.');
        let (account, dkr, ecr, region) = (
            labels.next().unwrap_or_default(),
            labels.next(),
            labels.next(),
            labels.next().unwrap_or_default(),
        );
        let is_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        let rest: Vec<&str> = labels.collect();
        let aws_domain = matches!(
            rest.as_slice(),
            ["amazonaws", "com"] | ["amazonaws", "com", "cn"]
        );
        if !is_account
            || dkr != Some("dkr")
            || !ecr.is_some_and(|e| e.starts_with("ecr"))
            || !aws_domain
        {
            return Err(not_ecr());
        }
        let (repository, reference) = match path.split_once('@') {
            Some((repository, digest)) => (repository, Reference::Digest(digest.to_string())),
            None => match path.rsplit_once(':') {
                Some((repository, tag)) => (repository, Reference::Tag(tag.to_string())),
                None => (path, Reference::Tag("latest".to_string())),
            },
        };
        if repository.is_empty() {
            return Err(not_ecr());
        }
        Ok(EcrImage {
            host: host.to_string(),
            account: account.to_string(),
            region: region.to_string(),
            repository: repository.to_string(),
            reference,
        })
    }

    /// `HOST/REPOSITORY@DIGEST`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}/{}@{digest}", self.host, self.repository)
    }
}

pub struct Ecr {
    client: aws_sdk_ecr::Client,
}

impl Ecr {
    pub fn new(config: &SdkConfig, endpoints: &Endpoints) -> Ecr {
        let mut conf = aws_sdk_ecr::config::Builder::from(config);
        if let Some(url) = &endpoints.ecr {
            conf = conf.endpoint_url(url);
        }
        Ecr {
            client: aws_sdk_ecr::Client::from_conf(conf.build()),
        }
    }

    /// The digest `image` points to now: its own, or its tag's in ECR.
    pub async fn digest(&self, image: &EcrImage) -> Result<String, EcrError> {
        let tag = match &image.reference {
            Reference::Digest(digest) => return Ok(digest.clone()),
            Reference::Tag(tag) => tag,
        };
        let shown = format!("{}/{}:{tag}", image.host, image.repository);
        let call = self
            .client
            .describe_images()
            .registry_id(&image.account)
            .repository_name(&image.repository)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await;
        let no_image = || EcrError::NoImage {
            image: shown.clone(),
            repository: image.repository.clone(),
            tag: tag.clone(),
        };
        let found = match call {
            Ok(found) => found,
            Err(e) => {
                let code = aws_sdk_ecr::error::ProvideErrorMetadata::code(&e);
                if matches!(
                    code,
                    Some("ImageNotFoundException" | "RepositoryNotFoundException")
                ) {
                    return Err(no_image());
                }
                return Err(EcrError::Call {
                    image: shown.clone(),
                    detail: DisplayErrorContext(&e).to_string(),
                });
            }
        };
        let digest = found.image_details().first().and_then(|d| d.image_digest());
        digest.map(str::to_string).ok_or_else(no_image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_images_by_tag_and_by_digest() {
        let tagged =
            EcrImage::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/dbt/runner:abc").unwrap();
        assert_eq!(
            (
                tagged.account.as_str(),
                tagged.region.as_str(),
                tagged.repository.as_str()
            ),
            ("123456789012", "eu-west-1", "dbt/runner")
        );
        assert_eq!(tagged.reference, Reference::Tag("abc".into()));
        assert_eq!(
            tagged.pinned("sha256:00"),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dbt/runner@sha256:00"
        );
        let pinned =
            EcrImage::parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/r@sha256:ff")
                .unwrap();
        assert_eq!(pinned.reference, Reference::Digest("sha256:ff".into()));
        let latest = EcrImage::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/r").unwrap();
        assert_eq!(latest.reference, Reference::Tag("latest".into()));
        for not in [
            "europe-docker.pkg.dev/acme/dbt/runner:1",
            "ghcr.io/acme/dbt:1",
            "12345.dkr.ecr.us-east-1.amazonaws.com/r:1",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/",
        ] {
            assert!(EcrImage::parse(not).is_err(), "{not}");
        }
    }
}

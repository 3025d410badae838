//! Where each AWS API is reached. By default the SDK's own resolution (the region's public
//! endpoints); the SDK's standard variables override it, for tests (moto, LocalStack) and for
//! private endpoints (VPC interface endpoints): `AWS_ENDPOINT_URL` for every service,
//! `AWS_ENDPOINT_URL_<SERVICE>` for one. dagship reads them itself so that it knows when S3
//! is not Amazon's, and addresses buckets by path there (`http://host/bucket/key`): a local
//! stand-in has no DNS name per bucket.

/// Base URLs that replace the SDK's, without a trailing `/`; `None`: the SDK's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub s3: Option<String>,
    pub mwaa: Option<String>,
    pub ecs: Option<String>,
    pub ecr: Option<String>,
    pub sts: Option<String>,
}

/// Every service, unless its own variable is set.
pub const ALL_VAR: &str = "AWS_ENDPOINT_URL";
pub const S3_VAR: &str = "AWS_ENDPOINT_URL_S3";
pub const MWAA_VAR: &str = "AWS_ENDPOINT_URL_MWAA";
pub const ECS_VAR: &str = "AWS_ENDPOINT_URL_ECS";
pub const ECR_VAR: &str = "AWS_ENDPOINT_URL_ECR";
pub const STS_VAR: &str = "AWS_ENDPOINT_URL_STS";

impl Endpoints {
    /// The overrides set in the process environment.
    pub fn from_env() -> Endpoints {
        Endpoints::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Endpoints {
        let all = get(ALL_VAR).map(|u| base(&u));
        let one = |var: &str| get(var).map(|u| base(&u)).or_else(|| all.clone());
        Endpoints {
            s3: one(S3_VAR),
            mwaa: one(MWAA_VAR),
            ecs: one(ECS_VAR),
            ecr: one(ECR_VAR),
            sts: one(STS_VAR),
        }
    }

    /// Whether buckets are addressed by path: only Amazon's S3 has a DNS name per bucket.
    pub fn s3_path_style(&self) -> bool {
        self.s3.is_some()
    }
}

fn base(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_variable_for_all_and_one_per_service() {
        let e = Endpoints::from_lookup(|name| match name {
            ALL_VAR => Some("http://127.0.0.1:5000/".into()),
            S3_VAR => Some("http://127.0.0.1:6000".into()),
            _ => None,
        });
        assert_eq!(e.s3.as_deref(), Some("http://127.0.0.1:6000"));
        assert_eq!(e.mwaa.as_deref(), Some("http://127.0.0.1:5000"));
        assert!(e.s3_path_style());
        let none = Endpoints::from_lookup(|_| None);
        assert_eq!(none, Endpoints::default());
        assert!(!none.s3_path_style(), "Amazon's S3: virtual-hosted buckets");
    }
}

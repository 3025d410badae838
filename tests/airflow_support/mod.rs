//! Airflows for the confirmation tests: a real Airflow 3 (api-server and dag-processor from
//! the project venv, on 127.0.0.1, over a temporary folder and SQLite), and a fake of Airflow
//! 2's stable REST API (`/api/v1`, what Cloud Composer 2 serves), which this machine cannot
//! run beside Airflow 3.

#![allow(dead_code)]

pub mod fake_v1;
pub mod real;

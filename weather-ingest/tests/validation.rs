//! The function's body check agrees with the API's own validation
//! (`weather_api::NewEvent::from_json`) on every case: a body the function sends is
//! one the API accepts, and a body it dead-letters is one the API would refuse.

use weather_ingest::EventBody;

#[test]
fn body_check_agrees_with_the_api() {
    let long_name = "n".repeat(200);
    let too_long = "n".repeat(201);
    let cases: Vec<String> = vec![
        r#"{"name": "Storm", "dateStart": "2022-02-16", "dateEnd": "2022-02-21"}"#.into(),
        r#"{"name":"x","dateStart":"2022-02-16","dateEnd":"2022-02-16"}"#.into(),
        format!(r#"{{"name":"{long_name}","dateStart":"2022-01-01","dateEnd":"2022-01-02"}}"#),
        format!(r#"{{"name":"{too_long}","dateStart":"2022-01-01","dateEnd":"2022-01-02"}}"#),
        r#"{"name":"Ünïcödé ☔","dateStart":"2024-02-29","dateEnd":"2024-03-01"}"#.into(),
        r#"{"name":"x","dateStart":"2023-02-29","dateEnd":"2023-03-01"}"#.into(),
        r#"{"name":"x","dateStart":"2022-1-01","dateEnd":"2022-01-02"}"#.into(),
        r#"{"name":"x","dateStart":"+2022-01-01","dateEnd":"2022-01-02"}"#.into(),
        r#"{"name":"x","dateStart":"20220101","dateEnd":"2022-01-02"}"#.into(),
        r#"{"name":"x","dateStart":"2022-01-03","dateEnd":"2022-01-02"}"#.into(),
        r#"{"name":"","dateStart":"2022-01-01","dateEnd":"2022-01-02"}"#.into(),
        r#"{"name":" \t ","dateStart":"2022-01-01","dateEnd":"2022-01-02"}"#.into(),
        r#"{"name":"x","dateStart":"2022-01-01","dateEnd":"2022-01-02","id":"1"}"#.into(),
        r#"{"name":"x","name":"y","dateStart":"2022-01-01","dateEnd":"2022-01-02"}"#.into(),
        r#"{"name":null,"dateStart":"2022-01-01","dateEnd":"2022-01-02"}"#.into(),
        r#"{"Name":"x","dateStart":"2022-01-01","dateEnd":"2022-01-02"}"#.into(),
        r#"{"name":"x","date_start":"2022-01-01","dateEnd":"2022-01-02"}"#.into(),
        r#"{}"#.into(),
        "[]".into(),
        "null".into(),
        "42".into(),
        r#""a string""#.into(),
        "not json".into(),
        "".into(),
        r#"{"name":"x","dateStart":"2022-01-01","dateEnd":"2022-01-02"} trailing"#.into(),
        format!(
            r#"{{"name":"{}","dateStart":"2022-01-01","dateEnd":"2022-01-02"}}"#,
            "n".repeat(64 * 1024)
        ),
    ];
    for body in &cases {
        let api = weather_api::NewEvent::from_json(body.as_bytes()).is_ok();
        let ours = EventBody::parse(Some(body)).is_ok();
        assert_eq!(
            ours,
            api,
            "disagreement on {}",
            &body[..body.len().min(100)]
        );
    }
}

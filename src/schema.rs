// @generated automatically by Diesel CLI.

diesel::table! {
    member_invites (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        member_id -> Uuid,
        token_hash -> Bytea,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    members (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        email -> Text,
        display_name -> Text,
        role -> Text,
        team_id -> Nullable<Uuid>,
        password_hash -> Nullable<Text>,
        deactivated_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    organisations (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        time_zone -> Text,
        mandate -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        session_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sessions (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        member_id -> Uuid,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    team_memberships (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        member_id -> Uuid,
        team_id -> Uuid,
        started_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
        moved_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    teams (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        name -> Text,
        archived_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(member_invites -> organisations (organisation_id));
diesel::joinable!(members -> organisations (organisation_id));
diesel::joinable!(refresh_tokens -> organisations (organisation_id));
diesel::joinable!(sessions -> organisations (organisation_id));
diesel::joinable!(team_memberships -> organisations (organisation_id));
diesel::joinable!(teams -> organisations (organisation_id));

diesel::allow_tables_to_appear_in_same_query!(
    member_invites,
    members,
    organisations,
    refresh_tokens,
    sessions,
    team_memberships,
    teams,
);

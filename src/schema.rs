// @generated automatically by Diesel CLI.

diesel::table! {
    api_keys (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        name -> Text,
        prefix -> Text,
        key_hash -> Bytea,
        scopes -> Array<Nullable<Text>>,
        created_by -> Uuid,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        expires_at -> Timestamptz,
        owner_id -> Uuid,
        last_audited_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_log (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        at -> Timestamptz,
        action -> Text,
        actor_member_id -> Nullable<Uuid>,
        actor_api_key_id -> Nullable<Uuid>,
        subject_type -> Nullable<Text>,
        subject_id -> Nullable<Uuid>,
        details -> Jsonb,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    badge_assertions (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        badge_id -> Uuid,
        member_id -> Uuid,
        issued_on -> Timestamptz,
        recipient_salt -> Nullable<Text>,
        recipient_hash -> Nullable<Text>,
        revoked_at -> Nullable<Timestamptz>,
        revocation_reason -> Nullable<Text>,
    }
}

diesel::table! {
    badge_images (badge_id) {
        organisation_id -> Uuid,
        badge_id -> Uuid,
        content_type -> Text,
        bytes -> Bytea,
        sha256 -> Bytea,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    badges (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        key -> Text,
        name -> Text,
        description -> Text,
        criterion -> Text,
        threshold -> Int4,
        dimension -> Nullable<Text>,
        points -> Int4,
        active -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    celebrations (member_id, kind, year) {
        organisation_id -> Uuid,
        member_id -> Uuid,
        kind -> Text,
        year -> Int4,
        recognition_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    challenge_activity (id) {
        id -> Int8,
        organisation_id -> Uuid,
        metric -> Text,
        member_id -> Uuid,
        team_id -> Nullable<Uuid>,
        dimension -> Nullable<Text>,
        channel -> Nullable<Text>,
        at -> Timestamptz,
        amount -> Int8,
    }
}

diesel::table! {
    challenge_tallies (challenge_id, shard) {
        organisation_id -> Uuid,
        challenge_id -> Uuid,
        shard -> Int2,
        amount -> Int8,
    }
}

diesel::table! {
    challenges (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        title -> Text,
        description -> Text,
        scope -> Text,
        team_id -> Nullable<Uuid>,
        metric -> Text,
        dimension -> Nullable<Text>,
        channel -> Nullable<Text>,
        target -> Int4,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        reward_points -> Int4,
        reward_badge_id -> Nullable<Uuid>,
        created_by -> Uuid,
        completed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        reserved_points -> Int4,
        reserved_period -> Nullable<Date>,
        reward_slots -> Nullable<Int4>,
        cancelled_at -> Nullable<Timestamptz>,
        cancelled_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    company_values (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        name -> Text,
        hashtag -> Text,
        description -> Text,
        active -> Bool,
        position -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    email_messages (id) {
        id -> Uuid,
        organisation_id -> Uuid,
        member_id -> Nullable<Uuid>,
        kind -> Text,
        to_address -> Text,
        subject -> Text,
        body_text -> Nullable<Text>,
        body_html -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        leased_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    giving_balances (organisation_id, member_id, kind, period_start) {
        organisation_id -> Uuid,
        member_id -> Uuid,
        kind -> Text,
        period_start -> Date,
        granted -> Int4,
        spent -> Int4,
    }
}

diesel::table! {
    idempotency_keys (organisation_id, member_id, key) {
        organisation_id -> Uuid,
        member_id -> Uuid,
        key -> Text,
        request_hash -> Bytea,
        response_status -> Int2,
        response_body -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    initiative_comments (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        initiative_id -> Uuid,
        author_id -> Uuid,
        body -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    initiative_contributors (initiative_id, member_id) {
        organisation_id -> Uuid,
        initiative_id -> Uuid,
        member_id -> Uuid,
    }
}

diesel::table! {
    initiative_events (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        initiative_id -> Uuid,
        actor_id -> Uuid,
        kind -> Text,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        note -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    initiatives (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        author_id -> Uuid,
        team_id -> Nullable<Uuid>,
        title -> Text,
        description -> Text,
        dimension -> Text,
        channel -> Text,
        journey_stage -> Text,
        customer_value -> Int2,
        organisation_value -> Int2,
        ease -> Int2,
        priority -> Nullable<Int2>,
        customer_reference -> Nullable<Text>,
        status -> Text,
        outcome_kpi -> Nullable<Text>,
        outcome_unit -> Nullable<Text>,
        outcome_baseline -> Nullable<Float8>,
        outcome_result -> Nullable<Float8>,
        outcome_measured_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    lead_budgets (organisation_id, member_id) {
        organisation_id -> Uuid,
        member_id -> Uuid,
        monthly_points -> Int4,
        updated_at -> Timestamptz,
        updated_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    ledger_entries (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        member_id -> Uuid,
        team_id -> Nullable<Uuid>,
        points -> Int4,
        reason -> Text,
        source_type -> Nullable<Text>,
        source_id -> Nullable<Uuid>,
        dimension -> Nullable<Text>,
        note -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        reverses -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    level_settings (organisation_id) {
        organisation_id -> Uuid,
        levels -> Jsonb,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    login_attempts (key) {
        key -> Bytea,
        attempts -> Int4,
        last_attempt_at -> Timestamptz,
        next_attempt_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    member_badges (badge_id, member_id) {
        organisation_id -> Uuid,
        badge_id -> Uuid,
        member_id -> Uuid,
        awarded_at -> Timestamptz,
    }
}

diesel::table! {
    member_invites (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        member_id -> Uuid,
        token_hash -> Bytea,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        purpose -> Text,
    }
}

diesel::table! {
    member_levels_reached (member_id, level_points) {
        organisation_id -> Uuid,
        member_id -> Uuid,
        level_points -> Int8,
        level_name -> Text,
        reached_at -> Timestamptz,
    }
}

diesel::table! {
    member_period_points (organisation_id, period, period_start, dimension, member_id) {
        organisation_id -> Uuid,
        period -> Text,
        period_start -> Date,
        dimension -> Text,
        member_id -> Uuid,
        points -> Int8,
        reached_at -> Timestamptz,
        team_id -> Nullable<Uuid>,
        listed -> Bool,
    }
}

diesel::table! {
    member_points_histogram (organisation_id, period, period_start, dimension, points) {
        organisation_id -> Uuid,
        period -> Text,
        period_start -> Date,
        dimension -> Text,
        points -> Int8,
        members -> Int4,
    }
}

diesel::table! {
    member_rates (organisation_id, member_id, action) {
        organisation_id -> Uuid,
        member_id -> Uuid,
        action -> Text,
        used -> Int4,
        window_ends_at -> Timestamptz,
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
        erased_at -> Nullable<Timestamptz>,
        birth_month -> Nullable<Int2>,
        birth_day -> Nullable<Int2>,
        started_on -> Nullable<Date>,
        employee_number -> Nullable<Text>,
        pin_hash -> Nullable<Text>,
        sso_subject -> Nullable<Text>,
    }
}

diesel::table! {
    moderation_reports (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        recognition_id -> Uuid,
        comment_id -> Nullable<Uuid>,
        reporter_id -> Uuid,
        reason -> Text,
        status -> Text,
        created_at -> Timestamptz,
        resolved_at -> Nullable<Timestamptz>,
        resolved_by -> Nullable<Uuid>,
        resolution_note -> Nullable<Text>,
    }
}

diesel::table! {
    notification_preferences (member_id, kind) {
        organisation_id -> Uuid,
        member_id -> Uuid,
        kind -> Text,
        enabled -> Bool,
    }
}

diesel::table! {
    notification_sequences (member_id) {
        organisation_id -> Uuid,
        member_id -> Uuid,
        last_seq -> Int8,
    }
}

diesel::table! {
    notification_settings (member_id) {
        organisation_id -> Uuid,
        member_id -> Uuid,
        quiet_start -> Nullable<Time>,
        quiet_end -> Nullable<Time>,
        time_zone -> Nullable<Text>,
    }
}

diesel::table! {
    notifications (member_id, seq) {
        organisation_id -> Uuid,
        id -> Uuid,
        member_id -> Uuid,
        seq -> Int8,
        kind -> Text,
        subject_type -> Text,
        subject_id -> Uuid,
        actor_id -> Nullable<Uuid>,
        data -> Jsonb,
        quiet -> Bool,
        created_at -> Timestamptz,
        read_at -> Nullable<Timestamptz>,
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
        min_group_size -> Int4,
        pseudonymised_exports_only -> Bool,
        rank_members_by -> Text,
        badge_contact_email -> Nullable<Text>,
        pin_sign_in -> Bool,
        language -> Text,
        weekly_lead_digest -> Bool,
    }
}

diesel::table! {
    point_rules (organisation_id) {
        organisation_id -> Uuid,
        initiative_submitted -> Int4,
        initiative_approved -> Int4,
        initiative_implemented -> Int4,
        initiative_measured -> Int4,
        contributor -> Int4,
        peer_monthly_allowance -> Int4,
        peer_daily_cap_per_recipient -> Int4,
        lead_monthly_budget -> Int4,
        max_points_per_recognition -> Int4,
        updated_at -> Timestamptz,
        submission_points_daily_cap -> Int4,
        submission_points_on_approval -> Bool,
        challenge_reward_cap -> Int4,
        values_required -> Bool,
        min_message_length -> Int4,
        peer_monthly_cap_per_recipient -> Int4,
        undo_window_hours -> Int4,
        birthday_points -> Int4,
        anniversary_points -> Int4,
    }
}

diesel::table! {
    recognition_boosts (recognition_id, booster_id) {
        organisation_id -> Uuid,
        recognition_id -> Uuid,
        booster_id -> Uuid,
        kind -> Text,
        points -> Int4,
        giving_period_start -> Nullable<Date>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    recognition_comments (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        recognition_id -> Uuid,
        author_id -> Uuid,
        body -> Text,
        created_at -> Timestamptz,
        edited_at -> Nullable<Timestamptz>,
        deleted_at -> Nullable<Timestamptz>,
        deleted_by -> Nullable<Uuid>,
        hidden_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    recognition_hashtags (recognition_id, tag) {
        organisation_id -> Uuid,
        recognition_id -> Uuid,
        tag -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    recognition_reactions (recognition_id, member_id, kind) {
        organisation_id -> Uuid,
        recognition_id -> Uuid,
        member_id -> Uuid,
        kind -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    recognition_recipients (recognition_id, member_id) {
        organisation_id -> Uuid,
        recognition_id -> Uuid,
        member_id -> Uuid,
        team_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    recognition_teams (recognition_id, team_id) {
        organisation_id -> Uuid,
        recognition_id -> Uuid,
        team_id -> Uuid,
    }
}

diesel::table! {
    recognition_values (recognition_id, value_id) {
        organisation_id -> Uuid,
        recognition_id -> Uuid,
        value_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    recognitions (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        giver_id -> Nullable<Uuid>,
        kind -> Text,
        message -> Text,
        points_each -> Int4,
        dimension -> Nullable<Text>,
        initiative_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        giving_period_start -> Nullable<Date>,
        visibility -> Text,
        undone_at -> Nullable<Timestamptz>,
        undone_by -> Nullable<Uuid>,
        hidden_at -> Nullable<Timestamptz>,
        hidden_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    redemptions (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        item_id -> Uuid,
        member_id -> Uuid,
        points -> Int4,
        status -> Text,
        entry_id -> Uuid,
        decided_by -> Nullable<Uuid>,
        decided_at -> Nullable<Timestamptz>,
        decline_reason -> Nullable<Text>,
        fulfilled_by -> Nullable<Uuid>,
        fulfilled_at -> Nullable<Timestamptz>,
        cancelled_by -> Nullable<Uuid>,
        cancelled_at -> Nullable<Timestamptz>,
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
    reward_items (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        title -> Text,
        description -> Text,
        image_url -> Nullable<Text>,
        point_cost -> Int4,
        stock -> Nullable<Int4>,
        requires_approval -> Bool,
        active -> Bool,
        created_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    scim_groups (team_id) {
        organisation_id -> Uuid,
        team_id -> Uuid,
        external_id -> Nullable<Text>,
        document -> Jsonb,
        deleted_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    scim_users (member_id) {
        organisation_id -> Uuid,
        member_id -> Uuid,
        user_name -> Text,
        external_id -> Nullable<Text>,
        document -> Jsonb,
        deleted_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
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
    sso_break_glass_admins (organisation_id, member_id) {
        organisation_id -> Uuid,
        member_id -> Uuid,
    }
}

diesel::table! {
    sso_flows (state_hash) {
        state_hash -> Bytea,
        organisation_id -> Uuid,
        nonce_hash -> Bytea,
        code_verifier -> Text,
        app_redirect_uri -> Text,
        app_state -> Nullable<Text>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    sso_login_codes (code_hash) {
        code_hash -> Bytea,
        organisation_id -> Uuid,
        member_id -> Uuid,
        session_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sso_providers (organisation_id) {
        organisation_id -> Uuid,
        issuer -> Text,
        client_id -> Text,
        client_secret -> Text,
        extra_scopes -> Array<Nullable<Text>>,
        subject_claim -> Text,
        match_email_on_first_login -> Bool,
        jit_team_id -> Nullable<Uuid>,
        required -> Bool,
        app_redirect_uris -> Array<Nullable<Text>>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    submission_points_daily (organisation_id, member_id, day) {
        organisation_id -> Uuid,
        member_id -> Uuid,
        day -> Date,
        paid -> Int4,
    }
}

diesel::table! {
    team_kpis (id) {
        organisation_id -> Uuid,
        id -> Uuid,
        team_id -> Uuid,
        kpi -> Text,
        period_start -> Date,
        period_end -> Date,
        value -> Float8,
        sample_size -> Nullable<Int4>,
        note -> Nullable<Text>,
        supersedes -> Nullable<Uuid>,
        recorded_by -> Nullable<Uuid>,
        recorded_by_key -> Nullable<Uuid>,
        recorded_at -> Timestamptz,
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
    team_period_points (organisation_id, period, period_start, dimension, team_id) {
        organisation_id -> Uuid,
        period -> Text,
        period_start -> Date,
        dimension -> Text,
        team_id -> Uuid,
        points -> Int8,
        reached_at -> Timestamptz,
    }
}

diesel::table! {
    team_sizes (organisation_id, team_id) {
        organisation_id -> Uuid,
        team_id -> Uuid,
        active_members -> Int4,
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

diesel::joinable!(api_keys -> organisations (organisation_id));
diesel::joinable!(audit_log -> organisations (organisation_id));
diesel::joinable!(badge_assertions -> organisations (organisation_id));
diesel::joinable!(badge_images -> organisations (organisation_id));
diesel::joinable!(badges -> organisations (organisation_id));
diesel::joinable!(celebrations -> organisations (organisation_id));
diesel::joinable!(challenge_tallies -> organisations (organisation_id));
diesel::joinable!(challenges -> organisations (organisation_id));
diesel::joinable!(company_values -> organisations (organisation_id));
diesel::joinable!(email_messages -> organisations (organisation_id));
diesel::joinable!(giving_balances -> organisations (organisation_id));
diesel::joinable!(idempotency_keys -> organisations (organisation_id));
diesel::joinable!(initiative_comments -> organisations (organisation_id));
diesel::joinable!(initiative_contributors -> organisations (organisation_id));
diesel::joinable!(initiative_events -> organisations (organisation_id));
diesel::joinable!(initiatives -> organisations (organisation_id));
diesel::joinable!(lead_budgets -> organisations (organisation_id));
diesel::joinable!(ledger_entries -> organisations (organisation_id));
diesel::joinable!(level_settings -> organisations (organisation_id));
diesel::joinable!(member_badges -> organisations (organisation_id));
diesel::joinable!(member_invites -> organisations (organisation_id));
diesel::joinable!(member_period_points -> organisations (organisation_id));
diesel::joinable!(member_points_histogram -> organisations (organisation_id));
diesel::joinable!(members -> organisations (organisation_id));
diesel::joinable!(moderation_reports -> organisations (organisation_id));
diesel::joinable!(point_rules -> organisations (organisation_id));
diesel::joinable!(recognition_boosts -> organisations (organisation_id));
diesel::joinable!(recognition_comments -> organisations (organisation_id));
diesel::joinable!(recognition_hashtags -> organisations (organisation_id));
diesel::joinable!(recognition_reactions -> organisations (organisation_id));
diesel::joinable!(recognition_recipients -> organisations (organisation_id));
diesel::joinable!(recognition_teams -> organisations (organisation_id));
diesel::joinable!(recognition_values -> organisations (organisation_id));
diesel::joinable!(recognitions -> organisations (organisation_id));
diesel::joinable!(redemptions -> organisations (organisation_id));
diesel::joinable!(refresh_tokens -> organisations (organisation_id));
diesel::joinable!(reward_items -> organisations (organisation_id));
diesel::joinable!(sessions -> organisations (organisation_id));
diesel::joinable!(sso_break_glass_admins -> sso_providers (organisation_id));
diesel::joinable!(sso_flows -> organisations (organisation_id));
diesel::joinable!(sso_providers -> organisations (organisation_id));
diesel::joinable!(submission_points_daily -> organisations (organisation_id));
diesel::joinable!(team_kpis -> organisations (organisation_id));
diesel::joinable!(team_memberships -> organisations (organisation_id));
diesel::joinable!(team_period_points -> organisations (organisation_id));
diesel::joinable!(team_sizes -> organisations (organisation_id));
diesel::joinable!(teams -> organisations (organisation_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    audit_log,
    badge_assertions,
    badge_images,
    badges,
    celebrations,
    challenge_activity,
    challenge_tallies,
    challenges,
    company_values,
    email_messages,
    giving_balances,
    idempotency_keys,
    initiative_comments,
    initiative_contributors,
    initiative_events,
    initiatives,
    lead_budgets,
    ledger_entries,
    level_settings,
    login_attempts,
    member_badges,
    member_invites,
    member_levels_reached,
    member_period_points,
    member_points_histogram,
    member_rates,
    members,
    moderation_reports,
    notification_preferences,
    notification_sequences,
    notification_settings,
    notifications,
    organisations,
    point_rules,
    recognition_boosts,
    recognition_comments,
    recognition_hashtags,
    recognition_reactions,
    recognition_recipients,
    recognition_teams,
    recognition_values,
    recognitions,
    redemptions,
    refresh_tokens,
    reward_items,
    scim_groups,
    scim_users,
    sessions,
    sso_break_glass_admins,
    sso_flows,
    sso_login_codes,
    sso_providers,
    submission_points_daily,
    team_kpis,
    team_memberships,
    team_period_points,
    team_sizes,
    teams,
);

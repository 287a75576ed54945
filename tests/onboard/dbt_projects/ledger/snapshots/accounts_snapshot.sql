{% snapshot accounts_snapshot %}

{{
    config(
      target_schema='snapshots',
      unique_key='account_id',
      strategy='timestamp',
      updated_at='updated_at',
    )
}}

select account_id, owner, currency, updated_at from {{ ref('accounts') }}

{% endsnapshot %}

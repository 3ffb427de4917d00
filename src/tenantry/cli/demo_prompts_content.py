"""What the demo organizations' prompt registries hold: parts, prompt versions (YAML), the
order they are saved in, their history messages and their labels. Plain data."""

from __future__ import annotations

# --- parts ---------------------------------------------------------------------------------------

ACME_STYLE_1 = """You write for Acme Shop, an online store.
Be warm, concise and concrete. Never invent order numbers, prices or dates.
"""
ACME_STYLE_2 = """You write for Acme Shop, an online store.
Be warm, concise and concrete: short sentences, no jargon, at most one exclamation mark.
Never invent order numbers, prices or dates; if something is unknown, say so.
Amounts are in the customer's currency with two decimals.
"""
SQL_RULES = """Rules for SQL:
- Write one read-only SELECT (or WITH … SELECT) statement for DuckDB.
- Use only the tables and columns listed; qualify columns with table aliases.
- Always add LIMIT 100 unless the question asks for a single number.
- Dates are UTC; use date_trunc for months and weeks.
"""
GLOBEX_STYLE = """You work for Globex Ads, a performance-marketing agency.
Lead with the number that matters, then the reason, then the recommendation.
Use percentages with one decimal and money with no decimals. No hype words.
"""

# --- Acme Shop ------------------------------------------------------------------------------------

ORDER_SUMMARY = [
    """id: order-summary
description: Summarise a customer's recent orders
tags: [sales, support]
model: {provider: local, model: llama3.1, temperature: 0.2, max_tokens: 400}
inputs:
  customer: {type: string, description: The customer's name}
  orders: {type: array<object>, description: "Recent orders: id, status, amount, created_at"}
template: "Summarise these {{ orders | length }} orders for {{ customer }}: {{ orders | json }}"
""",
    """id: order-summary
description: Summarise a customer's recent orders
tags: [sales, support]
model: {provider: local, model: llama3.1, temperature: 0.2, max_tokens: 400}
inputs:
  customer: {type: string, description: The customer's name}
  orders: {type: array<object>, description: "Recent orders: id, status, amount, created_at"}
messages:
  - role: system
    content: '{% include "house_style" %}'
  - role: user
    content: "Summarise {{ orders | length }} orders for {{ customer }}: {{ orders | json }}"
""",
    """id: order-summary
description: Summarise a customer's recent orders
tags: [sales, support]
model: {provider: local, model: llama3.1, temperature: 0.2, max_tokens: 400}
inputs:
  customer: {type: string, description: The customer's name}
  orders: {type: array<object>, description: "Recent orders: id, status, amount, created_at"}
  tone: {type: enum, values: [friendly, formal], default: friendly}
messages:
  - role: system
    content: '{% include "house_style" %}'
  - role: user
    content: |-
      Summarise {{ orders | length }} orders for {{ customer }} in a {{ tone }} tone.
      Mention anything not yet shipped first.
      Orders: {{ orders | json }}
""",
]

CUSTOMER_REPLY = [
    """id: customer-reply
description: Draft a reply to a customer's message about an order
tags: [support]
model: {provider: local, temperature: 0.4, max_tokens: 300}
inputs:
  customer_name: string
  message: {type: string, description: What the customer wrote}
  order_status: {type: string, required: false, description: Status of the order they mean}
messages:
  - role: system
    content: '{% include "house_style" %}'
  - role: user
    content: |-
      Customer {{ customer_name }} wrote: "{{ message }}"
      {%- if order_status %} Their order is {{ order_status }}.{% endif %}
      Draft a reply.
""",
    """id: customer-reply
description: Draft a reply to a customer's message about an order
tags: [support]
model: {provider: local, temperature: 0.4, max_tokens: 300}
inputs:
  customer_name: string
  message: {type: string, description: What the customer wrote}
  order_status: {type: string, required: false, description: Status of the order they mean}
  channel: {type: enum, values: [email, chat], default: email}
messages:
  - role: system
    content: |-
      {% include "house_style" %}
      {% if channel == "chat" %}Keep it to two sentences.
      {%- else %}Sign off as "The Acme team".{% endif %}
  - role: user
    content: |-
      Customer {{ customer_name }} wrote: "{{ message }}"
      {%- if order_status %} Their order is {{ order_status }}.{% endif %}
      Draft a reply for {{ channel }}.
""",
]

CHURN_RISK = [
    """id: churn-risk-explanation
description: Explain why a customer may be about to churn
tags: [retention]
model: {provider: local, temperature: 0.3, max_tokens: 250}
inputs:
  customer: string
  days_since_last_order: integer
  orders_last_90_days: integer
  lifetime_revenue: number
template: |-
  {{ customer }} last ordered {{ days_since_last_order }} days ago, placed
  {{ orders_last_90_days }} orders in the last 90 days and spent {{ lifetime_revenue }} in total.
  In two sentences, explain the churn risk.
""",
    """id: churn-risk-explanation
description: Explain why a customer may be about to churn, and what to do
tags: [retention]
model: {provider: local, temperature: 0.3, max_tokens: 300}
inputs:
  customer: string
  days_since_last_order: integer
  orders_last_90_days: integer
  lifetime_revenue: number
  top_channel: {type: enum, values: [organic, paid_search, paid_social, email, referral, direct]}
template: |-
  {% include "house_style" %}
  {{ customer }} last ordered {{ days_since_last_order }} days ago, placed
  {{ orders_last_90_days }} orders in the last 90 days and spent {{ lifetime_revenue }} in total.
  They mostly arrive through {{ top_channel | replace("_", " ") }}.
  {% if days_since_last_order > 60 %}This is a lapsed customer.{% endif %}
  In two sentences, explain the churn risk; then suggest one action on that channel.
""",
]

ACME_SQL = [
    """id: question-to-sql
description: Turn a question about the shop into SQL for the warehouse
tags: [analyst]
model: {provider: local, temperature: 0, max_tokens: 400}
inputs:
  question: string
messages:
  - role: system
    content: |-
      {% include "sql_rules" %}
      Tables: marts.fct_orders(order_id, customer_id, status, amount, created_at, channel),
      marts.dim_customers(customer_id, email, country, first_order_at).
  - role: user
    content: "{{ question }}"
""",
]

# --- Globex Ads -----------------------------------------------------------------------------------

CAMPAIGN_SUMMARY = [
    """id: campaign-performance-summary
description: Summarise a campaign's performance for the client
tags: [reporting]
model: {provider: local, temperature: 0.2, max_tokens: 400}
inputs:
  campaign: string
  spend: number
  clicks: integer
  conversions: integer
template: |-
  Campaign {{ campaign }} spent {{ spend }}, got {{ clicks }} clicks and {{ conversions }}
  conversions. Summarise its performance in three sentences.
""",
    """id: campaign-performance-summary
description: Summarise a campaign's performance for the client
tags: [reporting]
model: {provider: local, temperature: 0.2, max_tokens: 400}
inputs:
  campaign: string
  network: {type: enum, values: [search, social, display, video]}
  spend: number
  clicks: integer
  conversions: integer
messages:
  - role: system
    content: '{% include "house_style" %}'
  - role: user
    content: |-
      {% set rate = (100 * conversions / clicks) | round(1) if clicks else 0 -%}
      Campaign {{ campaign }} ({{ network }}): spend {{ spend }}, {{ clicks }} clicks,
      {{ conversions }} conversions ({{ rate }}% conversion rate).
      Summarise its performance in three sentences.
""",
    """id: campaign-performance-summary
description: Summarise a campaign's performance against the previous period
tags: [reporting]
model: {provider: local, temperature: 0.2, max_tokens: 500}
inputs:
  campaign: string
  network: {type: enum, values: [search, social, display, video]}
  current: {type: object, description: "spend, clicks, conversions this period"}
  previous: {type: object, required: false, description: The same for the previous period}
messages:
  - role: system
    content: '{% include "house_style" %}'
  - role: user
    content: |-
      Campaign {{ campaign }} ({{ network }}) this period: {{ current | json }}.
      {%- if previous %} Previous period: {{ previous | json }}.{% endif %}
      Summarise its performance in three sentences{% if previous %}, with the change{% endif %}.
""",
]

AD_COPY = [
    """id: ad-copy-ideas
description: Ideas for ad copy, returned through a tool call
tags: [creative]
model: {provider: local, temperature: 0.9, max_tokens: 600}
inputs:
  product: string
  audience: string
  count: {type: integer, default: 3, minimum: 1, maximum: 10}
messages:
  - role: system
    content: '{% include "house_style" %}'
  - role: user
    content: |-
      Write {{ count }} ad headlines for {{ product }}, aimed at {{ audience }}.
      Return them with the save_ad_ideas tool.
tools:
  - name: save_ad_ideas
    description: Save ad copy ideas for review
    parameters:
      type: object
      properties:
        ideas:
          type: array
          items:
            type: object
            properties:
              headline: {type: string, maxLength: 60}
              angle: {type: string}
            required: [headline]
      required: [ideas]
""",
    """id: ad-copy-ideas
description: Ideas for ad copy per network, returned through a tool call
tags: [creative]
model: {provider: local, temperature: 0.9, max_tokens: 800}
inputs:
  product: string
  audience: string
  network: {type: enum, values: [search, social, display, video], default: search}
  count: {type: integer, default: 3, minimum: 1, maximum: 10}
messages:
  - role: system
    content: '{% include "house_style" %}'
  - role: user
    content: |-
      Write {{ count }} ad headlines for {{ product }}, aimed at {{ audience }}, for {{ network }}
      ads{% if network == "search" %} (30 characters at most){% endif %}.
      Return them with the save_ad_ideas tool.
tools:
  - name: save_ad_ideas
    description: Save ad copy ideas for review
    parameters:
      type: object
      properties:
        ideas:
          type: array
          items:
            type: object
            properties:
              headline: {type: string, maxLength: 60}
              angle: {type: string}
              network: {type: string}
            required: [headline]
      required: [ideas]
""",
]

GLOBEX_SQL = [
    """id: question-to-sql
description: Turn a question about campaigns into SQL for the warehouse
tags: [analyst]
model: {provider: local, temperature: 0, max_tokens: 400}
inputs:
  question: string
messages:
  - role: system
    content: |-
      {% include "sql_rules" %}
      Tables: raw.campaigns(campaign_id, name, network, currency),
      raw.ad_spend(campaign_id, day, spend), raw.clicks(click_id, campaign_id, at),
      raw.conversions(conversion_id, click_id, value, at).
  - role: user
    content: "{{ question }}"
""",
]

# Steps in order: ("part", name, version, content) or ("prompt", versions, version). A prompt
# version pins the parts current when it is saved, so order shows part changes in history.
STEPS = {
    "acme-shop": [
        ("part", "house_style", 1, ACME_STYLE_1),
        ("part", "sql_rules", 1, SQL_RULES),
        ("prompt", ORDER_SUMMARY, 1),
        ("prompt", ORDER_SUMMARY, 2),
        ("prompt", CUSTOMER_REPLY, 1),
        ("prompt", CHURN_RISK, 1),
        ("prompt", ACME_SQL, 1),
        ("part", "house_style", 2, ACME_STYLE_2),
        ("prompt", ORDER_SUMMARY, 3),
        ("prompt", CUSTOMER_REPLY, 2),
        ("prompt", CHURN_RISK, 2),
    ],
    "globex-ads": [
        ("part", "house_style", 1, GLOBEX_STYLE),
        ("part", "sql_rules", 1, SQL_RULES),
        ("prompt", CAMPAIGN_SUMMARY, 1),
        ("prompt", CAMPAIGN_SUMMARY, 2),
        ("prompt", AD_COPY, 1),
        ("prompt", GLOBEX_SQL, 1),
        ("prompt", CAMPAIGN_SUMMARY, 3),
        ("prompt", AD_COPY, 2),
    ],
}
# Labels set once (a label someone moved since is left where they put it).
LABELS = {
    "acme-shop": {
        "order-summary": {"production": 2, "staging": 3},
        "customer-reply": {"production": 1, "staging": 2},
        "churn-risk-explanation": {"production": 1, "staging": 2},
        "question-to-sql": {"production": 1, "staging": 1},
    },
    "globex-ads": {
        "campaign-performance-summary": {"production": 2, "staging": 3},
        "ad-copy-ideas": {"production": 1, "staging": 2},
        "question-to-sql": {"production": 1, "staging": 1},
    },
}

MESSAGES = {
    ("order-summary", 2): "Chat form with the house style",
    ("order-summary", 3): "Tone input; orders not yet shipped first",
    ("customer-reply", 2): "Channel input: two sentences in chat, signed in email",
    ("churn-risk-explanation", 2): "Top channel and one suggested action; house style",
    ("campaign-performance-summary", 2): "Network and conversion rate; house style",
    ("campaign-performance-summary", 3): "Compare with the previous period",
    ("ad-copy-ideas", 2): "Copy per network",
}

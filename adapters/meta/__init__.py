"""Facebook Ads (Meta): Lead Ads in, lead stages out through the Conversions API."""

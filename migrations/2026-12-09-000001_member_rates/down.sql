DROP TABLE member_rates;
